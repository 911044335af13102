"""Web benchmark (not a test): prediction throughput and stroke-to-screen latency.

    python -m bench.web [--seconds 10] [--rounds 2] [--strokes 50]   (or: make bench-web)

Run from the repository root (it reuses the tests' Chromium set-up).

1. Requests per second of ``POST /api/v1/predict`` with a typical 280×280
   canvas PNG (the one the draw page sent for a 7 drawn in step 2), under
   gunicorn exactly as ``digits serve`` runs it (2 workers), side by side
   with a bare Flask endpoint answering constant JSON under the same server
   and worker count. The load generator is ``wrk``
   (``apt-get install wrk``) on loopback; the two are measured alternately,
   ``--rounds`` times each, so a background load affects both alike.
   Target: the app reaches at least half the bare endpoint's rate.
2. Stroke end → prediction updated in the DOM, in Chromium on localhost
   against the same gunicorn app: pen-up time (``pointerup``) to the moment
   the page shows the reading of that drawing; p50 and p95 over ``--strokes``
   strokes. Target: p95 ≤ 50 ms.
"""

import argparse
import base64
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path

WRK_SCRIPT = """wrk.method = "POST"
wrk.headers["Content-Type"] = "image/png"
local f = assert(io.open("{body}", "rb"))
wrk.body = f:read("*all")
f:close()
"""
# Pen-up (the pointerup event's own time stamp) to the DOM mutation that shows
# the reading of that drawing.
LATENCY_PROBE = """
window.strokeLatencies = [];
let penUp = null;
document.addEventListener("pointerup", e => { penUp = e.timeStamp; }, true);
document.addEventListener("DOMContentLoaded", () => {
  new MutationObserver(() => {
    const reading = document.querySelector("#reading");
    const sent = document.querySelector("#reader [name=seq]").value;
    if (penUp !== null && reading && reading.dataset.seq === sent) {
      window.strokeLatencies.push(performance.now() - penUp);
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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def gunicorn(app_spec, workers):
    """A gunicorn serving ``app_spec`` with ``digits serve``'s arguments; yields its base URL."""
    from webapp.cli import gunicorn_args

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *gunicorn_args("127.0.0.1", port, workers, app_spec)],
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


def wrk(url, script, seconds, connections):
    """Requests per second that answered 2xx, measured by wrk."""
    out = subprocess.run(["wrk", "--threads", "2", "--connections", str(connections),
                          "--duration", f"{seconds}s", "--script", script,
                          url + "/api/v1/predict"],
                         capture_output=True, text=True, check=True).stdout
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if failed or "Socket errors" in out:
        raise SystemExit(f"bench: requests failed during the run:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def throughput(app_url, bare_url, png, args):
    """Mean requests per second of the app and the bare endpoint, measured alternately."""
    with tempfile.TemporaryDirectory() as tmp:
        body = Path(tmp, "canvas.png")
        body.write_bytes(png)
        script = Path(tmp, "post.lua")
        script.write_text(WRK_SCRIPT.format(body=body))
        rates = {"app": [], "bare": []}
        for _ in range(args.rounds):
            for name, url in (("app", app_url), ("bare", bare_url)):
                rates[name].append(wrk(url, script, args.seconds, args.connections))
    return {name: statistics.mean(values) for name, values in rates.items()}


def browser_session(app_url, strokes, warm_up=5):
    """Draw a 7 and keep the PNG the page sent; then time ``strokes`` strokes, pen-up → DOM.

    The first ``warm_up`` strokes are not counted: each gunicorn worker
    compiles its templates on its first requests. Returns (png bytes,
    latencies in milliseconds).
    """
    from playwright.sync_api import sync_playwright

    from tests.chromium import ANSWERED, draw, launch_options
    from tests.drawings import BASE

    with sync_playwright() as p:
        browser = p.chromium.launch(**launch_options())
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.add_init_script(LATENCY_PROBE)
        page.goto(app_url)
        page.wait_for_function("() => window.htmx && document.querySelector('#reading')")
        for i in range(warm_up + strokes):
            if i:
                page.keyboard.press("Escape")          # clear, and wait for the blank reading
                page.wait_for_function(ANSWERED)
            draw(page, BASE["7"][1], steps=5)
            page.wait_for_function(f"() => window.strokeLatencies.length === {i + 1}")
            if not i:
                url = page.locator("#reader [name=image]").input_value()
                png = base64.b64decode(url.split(",", 1)[1])
        latencies = page.evaluate("window.strokeLatencies")[warm_up:]
        browser.close()
    return png, latencies


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs per endpoint")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--strokes", type=int, default=50)
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("bench: wrk is not installed (Debian: apt-get install wrk)")

    with ExitStack() as stack:
        app_url = stack.enter_context(gunicorn("webapp:create_app()", args.workers))
        png, latencies = browser_session(app_url, args.strokes)
        bare_url = stack.enter_context(gunicorn("bench.web:bare_app()", args.workers))
        rates = throughput(app_url, bare_url, png, args)

    ratio = rates["app"] / rates["bare"]
    size = len(png)
    result = {
        "predict_requests_per_s": round(rates["app"], 1),
        "bare_requests_per_s": round(rates["bare"], 1),
        "ratio": round(ratio, 3),
        "stroke_to_dom_ms_p50": round(statistics.median(latencies), 1),
        "stroke_to_dom_ms_p95": round(percentile(latencies, 95), 1),
        "strokes": len(latencies),
        "canvas_png_bytes": size,
        "gunicorn_workers": args.workers,
        "cpus": os.cpu_count(),
    }
    print(f"POST /api/v1/predict ({size} B canvas PNG), gunicorn {args.workers} workers, "
          f"wrk {args.connections} connections, {args.rounds}×{args.seconds}s each:")
    print(f"  predict {rates['app']:8.1f} req/s   bare Flask {rates['bare']:8.1f} req/s   "
          f"ratio {ratio:.2f} (target ≥ 0.5)")
    print(f"stroke end → DOM updated, Chromium, {len(latencies)} strokes: "
          f"p50 {result['stroke_to_dom_ms_p50']} ms, p95 {result['stroke_to_dom_ms_p95']} ms "
          f"(target p95 ≤ 50 ms)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
