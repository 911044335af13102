"""Web benchmark (not a test): prediction throughput and stroke-to-screen latency.

    python -m bench.web [--seconds 10] [--rounds 3] [--strokes 50]   (or: make bench-web)

Run from the repository root (it reuses the tests' Chromium set-up).

1. Requests per second of ``POST /api/v1/predict`` with a typical 280×280
   canvas PNG (the one the draw page sent for a 7 drawn in step 2), under
   gunicorn exactly as ``digits serve`` runs it (2 workers), side by side
   with a bare Flask endpoint answering constant JSON under the same server
   and worker count; and of the page's own path, ``POST /predict`` with the
   canvas's data URL as the page sends it (htmx, the grid it holds,
   compression accepted), answered with the HTML fragment. The load
   generator is ``wrk`` (``apt-get install wrk``) on loopback; the three are
   measured in turn, ``--rounds`` times each, so a background load affects
   them alike; medians are reported, with the load average.
   Target: the API reaches at least 0.4× the bare endpoint's rate.
2. The same three in-process (Flask's test client, no server, no network):
   the median milliseconds per request.
3. Stroke end → prediction updated in the DOM, in Chromium on localhost
   against the same gunicorn app: pen-up time (``pointerup``) to the moment
   the page shows the reading of that drawing, and to the end of the next
   frame after it (the bars on screen); p50 and p95 over ``--strokes``
   strokes. Target: p95 ≤ 50 ms. The page's "Why this answer" panels are on
   (their default): a stroke counts once its reading and its new panels are
   both in the DOM. ``--latency-only`` (``make bench-overlay``) skips 1 and 2
   and measures step 3 with the panels on and off, in turn.
"""

import argparse
import base64
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench import slower as bench_slower
from tests.support import free_port

slower_env = bench_slower.ENV

WRK_SCRIPT = """wrk.method = "POST"
wrk.headers["Content-Type"] = "{content_type}"
{headers}
local f = assert(io.open("{body}", "rb"))
wrk.body = f:read("*all")
f:close()
"""
# The page's request as Chromium sends it: htmx's headers, the compressions it accepts.
PAGE_HEADERS = {"HX-Request": "true", "Accept-Encoding": "gzip, deflate, br, zstd"}
# Pen-up (the pointerup event's own time stamp) to the DOM mutation that shows
# the reading of that drawing, and to the end of the frame that paints it
# (a task queued from the next animation frame runs after that frame).
LATENCY_PROBE = """
window.strokeLatencies = [];
window.paintLatencies = [];
let penUp = null, sent = null, panel = null;
// Bubbling, so after the pad's own pointerup has sent the drawing: `sent` is its number.
document.addEventListener("pointerup", e => {
  penUp = e.timeStamp;
  sent = document.querySelector("#reader [name=seq]").value;
  panel = document.getElementById("explanation");
});
document.addEventListener("DOMContentLoaded", () => {
  new MutationObserver(() => {
    const reading = document.querySelector("#reading");
    const explaining = document.getElementById("why-on")?.checked;
    const panelsIn = !explaining || document.getElementById("explanation") !== panel;
    if (penUp !== null && reading && reading.dataset.seq === sent && panelsIn) {
      const started = penUp;
      window.strokeLatencies.push(performance.now() - started);
      requestAnimationFrame(() => setTimeout(
        () => window.paintLatencies.push(performance.now() - started)));
      penUp = null;
    }
  }).observe(document.body, { subtree: true, childList: true });
});
"""


def bare_app():
    """The baseline: one Flask endpoint that takes the same POST and answers constant JSON."""
    from flask import Flask, request

    app = Flask(__name__)

    @app.post("/api/v1/predict")
    def predict():
        request.get_data()
        return {"digit": 7}

    return app


@contextmanager
def gunicorn(app_spec, workers, slower=1):
    """A gunicorn serving ``app_spec`` with ``digits serve``'s arguments, on a fresh instance
    folder (so the shipped model reads); yields its base URL.

    ``slower`` > 1 runs each worker at 1/``slower`` of a core (``bench.slower``)."""
    from webapp.ops.server import gunicorn_args

    port = free_port()
    instance = tempfile.TemporaryDirectory(prefix="digits-bench-")   # the shipped model, afresh
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "python:bench.slower",
         *gunicorn_args("127.0.0.1", port, workers, app_spec)],
        env={**os.environ, "DIGITS_RATELIMIT_ENABLED": "false", slower_env: str(slower),
             "DIGITS_INSTANCE_PATH": instance.name},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url, timeout=5).close()
                break
            except urllib.error.HTTPError:         # any answer means a worker is up
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"bench: {app_spec} did not start:\n"
                                     + process.stderr.read().decode(errors="replace"))
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        bench_slower.remove_groups()
        instance.cleanup()


def wrk(url, path, script, seconds, connections):
    """Requests per second that answered 2xx, measured by wrk."""
    out = subprocess.run(["wrk", "--threads", "2", "--connections", str(connections),
                          "--duration", f"{seconds}s", "--script", script, url + path],
                         capture_output=True, text=True, check=True).stdout
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if failed or "Socket errors" in out:
        raise SystemExit(f"bench: requests failed during the run:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def page_form(png, grid):
    """The page's form body for ``png``: the canvas's data URL, a drawing count, its grid."""
    return urllib.parse.urlencode({
        "image": "data:image/png;base64," + base64.b64encode(png).decode(),
        "seq": "7", "grid": grid}).encode()


def wrk_script(directory, name, body, content_type, headers=None):
    path = Path(directory, name)
    Path(directory, name + ".body").write_bytes(body)
    lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in (headers or {}).items())
    path.write_text(WRK_SCRIPT.format(body=path.with_name(name + ".body"),
                                      content_type=content_type, headers=lines))
    return path


def throughput(app_url, bare_url, png, grid, args):
    """Requests per second of the API, the bare endpoint and the page path, each round, in turn."""
    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            "api": (app_url, "/api/v1/predict", wrk_script(tmp, "api.lua", png, "image/png")),
            "bare": (bare_url, "/api/v1/predict", wrk_script(tmp, "bare.lua", png, "image/png")),
            "page": (app_url, "/predict", wrk_script(
                tmp, "page.lua", page_form(png, grid), "application/x-www-form-urlencoded",
                PAGE_HEADERS)),
        }
        for url, path, script in runs.values():                 # warm up each worker
            wrk(url, path, script, 1, args.connections)
        rates = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, (url, path, script) in runs.items():
                rates[name].append(wrk(url, path, script, args.seconds, args.connections))
    return rates


def in_process(png, grid, repeat=500):
    """Median milliseconds per request through Flask's test client: API, bare, page path."""
    from webapp import create_app

    with tempfile.TemporaryDirectory() as instance:
        app = create_app({"TESTING": True, "SECRET_KEY": "bench", "INSTANCE_PATH": instance,
                          "LOG_REQUESTS": False, "RATELIMIT_ENABLED": False})
        client, bare = app.test_client(), bare_app().test_client()
        form = page_form(png, grid)
        requests = {
            "api": lambda: client.post("/api/v1/predict", data=png, content_type="image/png"),
            "bare": lambda: bare.post("/api/v1/predict", data=png, content_type="image/png"),
            "page": lambda: client.post("/predict", data=form, headers=PAGE_HEADERS,
                                        content_type="application/x-www-form-urlencoded"),
        }
        times = {name: [] for name in requests}
        for _ in range(3):
            for name, request in requests.items():
                assert request().status_code == 200
                for _ in range(repeat // 3):
                    started = time.perf_counter()
                    request()
                    times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) * 1000 for name, values in times.items()}


def browser_session(app_url, strokes, warm_up=5, explaining=True, slower=1):
    """Draw a 7 and keep the PNG the page sent; then time ``strokes`` strokes, pen-up → DOM.

    ``explaining`` False switches the page's "Why this answer" panels off first;
    ``slower`` > 1 slows Chromium's page that many times (``bench.slower``).

    The first ``warm_up`` strokes are not counted: each gunicorn worker
    compiles its templates on its first requests. Returns (png bytes, the
    unit-grid layout the page holds, latencies to the DOM and to the painted
    frame in milliseconds).
    """
    from playwright.sync_api import sync_playwright

    from tests.chromium import ANSWERED, draw, launch_options
    from tests.drawings import BASE

    with sync_playwright() as p:
        browser = p.chromium.launch(**launch_options())
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        bench_slower.throttle_page(page, slower)
        page.add_init_script(LATENCY_PROBE)
        page.goto(app_url)
        page.wait_for_function("() => window.htmx && document.querySelector('#reading')")
        page.set_default_timeout(120_000)          # a loaded machine: slow, not failed
        if not explaining:
            page.locator("#why-on").uncheck()
            page.evaluate("document.activeElement.blur()")   # Esc must reach the pad again
            page.locator("#pad").scroll_into_view_if_needed()
        for i in range(warm_up + strokes):
            if i:
                page.keyboard.press("Escape")          # clear, and wait for the blank reading
                page.wait_for_function(ANSWERED)
            draw(page, BASE["7"][1], steps=5)
            page.wait_for_function(f"() => window.paintLatencies.length >= {i + 1}")
            if not i:
                url = page.locator("#reader [name=image]").input_value()
                png = base64.b64decode(url.split(",", 1)[1])
        grid = page.locator("#reading").get_attribute("data-grid") or ""
        latencies = page.evaluate("window.strokeLatencies")[warm_up:]
        painted = page.evaluate("window.paintLatencies")[warm_up:]
        browser.close()
    return png, grid, latencies, painted


def overlay_latency(args, speed, rounds=2):
    """Pen-up → DOM with the why panels on and off, ``rounds`` sessions each, in turn."""
    load_before = os.getloadavg()[0]
    results = {True: ([], []), False: ([], [])}
    with gunicorn("webapp.ops.server:serving_app()", args.workers, args.slower) as app_url:
        for _ in range(rounds):
            for explaining in (True, False):
                _, _, latencies, painted = browser_session(app_url, args.strokes // rounds,
                                                           explaining=explaining,
                                                           slower=args.slower)
                results[explaining][0].extend(latencies)
                results[explaining][1].extend(painted)
    summary = {}
    for explaining, (latencies, painted) in results.items():
        name = "panels_on" if explaining else "panels_off"
        summary[name] = {"dom_p50": round(statistics.median(latencies), 1),
                         "dom_p95": round(percentile(latencies, 95), 1),
                         "paint_p50": round(statistics.median(painted), 1),
                         "paint_p95": round(percentile(painted, 95), 1),
                         "strokes": len(latencies)}
        print(f"why panels {'on ' if explaining else 'off'}: pen-up → DOM p50 "
              f"{summary[name]['dom_p50']} ms, p95 {summary[name]['dom_p95']} ms "
              f"(target p95 ≤ 50 ms); → painted p50 {summary[name]['paint_p50']} ms, "
              f"p95 {summary[name]['paint_p95']} ms; {len(latencies)} strokes")
    summary["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    summary["loop_seconds"] = round(speed, 3)
    summary["slower"] = args.slower
    summary["gunicorn_workers"] = args.workers
    print(json.dumps(summary))
    return summary


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per endpoint, in turn")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--strokes", type=int, default=50)
    parser.add_argument("--latency-only", action="store_true",
                        help="only pen-up → DOM in Chromium, with the why panels on and off")
    parser.add_argument("--slower", type=float, default=1, metavar="N",
                        help="pen-up → DOM as on a machine N times slower: each gunicorn worker "
                             "at 1/N of a core, Chromium's page throttled N× (bench.slower; root)")
    args = parser.parse_args(argv)
    if args.slower > 1 and bench_slower.available():
        raise SystemExit(f"bench: {bench_slower.available()}")
    speed = bench_slower.loop_seconds()
    print(f"this machine: a 10-million-step Python loop takes {speed:.2f} s"
          + (f"; emulating one {args.slower:g}× slower (≈ {speed * args.slower:.1f} s)"
             if args.slower > 1 else ""))
    if args.latency_only:
        return overlay_latency(args, speed)
    if not shutil.which("wrk"):
        raise SystemExit("bench: wrk is not installed (Debian: apt-get install wrk)")

    load_before = os.getloadavg()[0]
    with ExitStack() as stack:
        app_url = stack.enter_context(gunicorn("webapp.ops.server:serving_app()", args.workers, args.slower))
        png, grid, latencies, painted = browser_session(app_url, args.strokes,
                                                        slower=args.slower)
        bare_url = stack.enter_context(gunicorn("bench.web:bare_app()", args.workers,
                                                args.slower))
        rounds = throughput(app_url, bare_url, png, grid, args)
        rates = {name: statistics.median(values) for name, values in rounds.items()}
    milliseconds = in_process(png, grid)
    load_after = os.getloadavg()[0]

    size = len(png)
    result = {
        "predict_requests_per_s": round(rates["api"], 1),
        "bare_requests_per_s": round(rates["bare"], 1),
        "page_requests_per_s": round(rates["page"], 1),
        "ratio": round(rates["api"] / rates["bare"], 3),
        "page_ratio": round(rates["page"] / rates["bare"], 3),
        "rounds": {name: [round(v, 1) for v in values] for name, values in rounds.items()},
        "in_process_ms": {name: round(ms, 3) for name, ms in milliseconds.items()},
        "stroke_to_dom_ms_p50": round(statistics.median(latencies), 1),
        "stroke_to_dom_ms_p95": round(percentile(latencies, 95), 1),
        "stroke_to_paint_ms_p50": round(statistics.median(painted), 1),
        "stroke_to_paint_ms_p95": round(percentile(painted, 95), 1),
        "strokes": len(latencies),
        "canvas_png_bytes": size,
        "gunicorn_workers": args.workers,
        "cpus": os.cpu_count(),
        "load_average": [round(load_before, 2), round(load_after, 2)],
        "loop_seconds": round(speed, 3),
        "slower": args.slower,
    }
    print(f"POST /api/v1/predict ({size} B canvas PNG), gunicorn {args.workers} workers, "
          f"wrk {args.connections} connections, {args.rounds}×{args.seconds}s each, medians "
          f"(load average {load_before:.1f} → {load_after:.1f}):")
    print(f"  predict {rates['api']:8.1f} req/s   bare Flask {rates['bare']:8.1f} req/s   "
          f"ratio {result['ratio']:.2f} (target ≥ 0.4)")
    print(f"  page path (POST /predict, data URL → fragment) {rates['page']:8.1f} req/s   "
          f"ratio {result['page_ratio']:.2f}")
    print("  each round: " + "; ".join(f"{name} " + ", ".join(f"{v:.0f}" for v in values)
                                       for name, values in rounds.items()))
    print("in-process, median ms per request: " + ", ".join(
        f"{name} {ms:.2f}" for name, ms in milliseconds.items()))
    print(f"stroke end → DOM updated, Chromium, {len(latencies)} strokes: "
          f"p50 {result['stroke_to_dom_ms_p50']} ms, p95 {result['stroke_to_dom_ms_p95']} ms "
          f"(target p95 ≤ 50 ms); → frame painted: p50 {result['stroke_to_paint_ms_p50']} ms, "
          f"p95 {result['stroke_to_paint_ms_p95']} ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
