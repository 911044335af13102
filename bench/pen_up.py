"""Where a pen-up's time goes in Chromium (not a test): its phases, and the browser's work.

    python -m bench.pen_up [--strokes 40] [--slower N] [--trace /tmp/trace.json]

Run from the repository root. It serves the app as ``bench.web`` does (gunicorn,
2 workers, the shipped model; ``--slower N`` as there), draws a 7 stroke after
stroke with the why panels on, and splits each pen-up → reading (the stroke's
last answer) into phases, from the page's own clocks: htmx's events and the
request's resource timing.

    to sending      pen-up to htmx sending the request (painting and encoding the PNG)
    to the server   sending to the request's start on the wire
    server          the request's start to the answer's first byte
    receiving       the answer's first byte to its last
    to the swap     the last byte to htmx starting the swap
    swap            htmx's swap: the out-of-band parts, the reading, the bars' script

and prints the p50 and p95 of each, and of the whole (the DOM updated, as
``bench.web`` measures it). The first 5 strokes are not counted.

With ``--trace FILE`` it also records Chromium's trace (``devtools.timeline``)
of the counted strokes into FILE and prints the renderer main thread's time per
kind of work (script, restyling, layout, paint...) per answer (kinds nest:
an event's script is inside its dispatch), and how many elements each restyle
touched: that is how the unit grid was found restyled
whole on every answer (docs/benchmarks.md, "The live page in the browser").
"""

import argparse
import json
import statistics
from collections import Counter, defaultdict

from bench import slower as bench_slower
from bench import web

PHASES_PROBE = """
window.phases = [];
let stroke = null;
document.addEventListener("pointerup", e => { stroke = {up: e.timeStamp}; }, true);
let penUpXhr = null;   // the pen-up's request: an earlier picture's answer may come first
document.addEventListener("htmx:beforeSend", e => {
  if (stroke && !stroke.send) { stroke.send = performance.now(); penUpXhr = e.detail.xhr; }
});
document.addEventListener("htmx:beforeOnLoad", e => {
  if (stroke && e.detail.xhr === penUpXhr && !stroke.load) stroke.load = performance.now();
});
document.addEventListener("htmx:beforeSwap", e => {
  if (stroke && e.detail.xhr === penUpXhr && !stroke.swapping) stroke.swapping = performance.now();
});
document.addEventListener("htmx:afterSwap", e => {
  if (stroke && e.detail.xhr === penUpXhr && !stroke.swapped) stroke.swapped = performance.now();
});
document.addEventListener("htmx:afterSettle", e => {
  if (!stroke || !stroke.swapped || e.detail.xhr !== penUpXhr) return;
  const request = performance.getEntriesByType("resource")
    .filter(r => r.name.endsWith("/predict")).pop();
  if (request) Object.assign(stroke, {start: request.requestStart,
    first: request.responseStart, last: request.responseEnd});
  window.phases.push(stroke);
  stroke = null;
});
"""
PHASES = {
    "to sending": ("up", "send"),
    "to the server": ("send", "start"),
    "server": ("start", "first"),
    "receiving": ("first", "last"),
    "to the swap": ("last", "swapping"),
    "swap": ("swapping", "swapped"),
}
WORK = ("FunctionCall", "XHRLoad", "EventDispatch", "TimerFire", "ParseHTML", "UpdateLayoutTree",
        "Layout", "PrePaint", "Paint", "Layerize", "Commit", "MajorGC", "MinorGC")


def quantiles(values):
    ordered = sorted(values)
    return statistics.median(ordered), web.percentile(ordered, 95)


def strokes(url, count, slower, trace=None, warm_up=5):
    """(each stroke's phase marks, each stroke's pen-up → DOM ms, the trace's bytes or None)."""
    from playwright.sync_api import sync_playwright

    from tests.chromium import ANSWERED, draw, launch_options
    from tests.drawings import BASE

    with sync_playwright() as p:
        browser = p.chromium.launch(**launch_options())
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        bench_slower.throttle_page(page, slower)
        page.add_init_script(web.LATENCY_PROBE + PHASES_PROBE)
        page.goto(url)
        page.wait_for_function("() => window.htmx && document.querySelector('#reading')")
        page.set_default_timeout(120_000)
        traced = None
        for i in range(warm_up + count):
            if trace and i == warm_up:
                browser.start_tracing(page=page, categories=[
                    "devtools.timeline", "disabled-by-default-devtools.timeline"])
            if i:
                page.keyboard.press("Escape")          # clear, and wait for the blank reading
                page.wait_for_function(ANSWERED)
            draw(page, BASE["7"][1], steps=5)
            page.wait_for_function(f"() => window.paintLatencies.length >= {i + 1}")
        if trace:
            traced = browser.stop_tracing()
        marks = page.evaluate("window.phases")[warm_up:]
        latencies = page.evaluate("window.strokeLatencies")[warm_up:]
        browser.close()
    return marks, latencies, traced


def main_thread_work(trace_bytes):
    """The renderer main thread's ms per answer (an ``XHRLoad``) by kind of work, and how
    many restyles touched how many elements."""
    events = json.loads(trace_bytes)
    events = events["traceEvents"] if isinstance(events, dict) else events
    main = {(e["pid"], e["tid"]) for e in events if e.get("ph") == "M"
            and e.get("name") == "thread_name" and e["args"].get("name") == "CrRendererMain"}
    work, counts, restyled = defaultdict(float), Counter(), Counter()
    for e in events:
        if (e.get("pid"), e.get("tid")) not in main or e.get("ph") != "X" or "dur" not in e:
            continue
        if e["name"] in WORK:
            work[e["name"]] += e["dur"] / 1000
            counts[e["name"]] += 1
        if e["name"] == "UpdateLayoutTree" and e.get("args", {}).get("elementCount", 0) > 100:
            restyled[e["args"]["elementCount"] // 100 * 100] += 1
    answers = counts["XHRLoad"] or 1
    return {name: ms / answers for name, ms in work.items()}, answers, restyled


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strokes", type=int, default=40)
    parser.add_argument("--slower", type=float, default=1, metavar="N",
                        help="as on a machine N times slower (bench.slower; root)")
    parser.add_argument("--trace", metavar="FILE", help="record Chromium's trace here")
    args = parser.parse_args(argv)
    if args.slower > 1 and bench_slower.available():
        raise SystemExit(f"bench: {bench_slower.available()}")
    print(f"this machine: a 10-million-step Python loop takes {bench_slower.loop_seconds():.2f} s"
          + (f"; emulating one {args.slower:g}× slower" if args.slower > 1 else ""))
    with web.gunicorn("webapp.ops.server:serving_app()", 2, args.slower) as url:
        marks, latencies, traced = strokes(url, args.strokes, args.slower, args.trace)
    complete = [m for m in marks if all(k in m for pair in PHASES.values() for k in pair)]
    print(f"pen-up → reading, {len(complete)} strokes, ms:        p50     p95")
    for name, (start, end) in PHASES.items():
        p50, p95 = quantiles([m[end] - m[start] for m in complete])
        print(f"  {name:34s} {p50:7.1f} {p95:7.1f}")
    p50, p95 = quantiles(latencies)
    print(f"  {'the DOM updated (bench.web)':34s} {p50:7.1f} {p95:7.1f}")
    if traced:
        with open(args.trace, "wb") as f:
            f.write(traced)
        work, answers, restyled = main_thread_work(traced)
        print(f"main thread per answer ({answers} answers), ms: " + ", ".join(
            f"{name} {ms:.1f}" for name, ms in sorted(work.items(), key=lambda kv: -kv[1])))
        print("restyles of over 100 elements, by size: " + (", ".join(
            f"{size}–{size + 99}: {n}" for size, n in sorted(restyled.items())) or "none"))


if __name__ == "__main__":
    main()
