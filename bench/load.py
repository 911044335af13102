"""Load test (not a test): a crowd drawing at once, then a retrain and a promote under load.

    python -m bench.load [--users 100] [--seconds 60] [--retrain-users 50] [--api-clients 5]
                         [--retrain-seconds 120] [--only plain|retrain]   (or: make loadtest)

This file is both the locust file (the ``Drawer`` user, defined when locust
loads it) and the runner (``python -m bench.load``), which starts
``digits serve`` exactly as shipped (its default workers and threads, the
shipped model, a fresh instance folder) on a free loopback port and runs
locust headless against it, bounded in users and seconds:

1. ``--users`` people drawing for ``--seconds``. Target: 0 failed requests,
   p95 ≤ 50 ms.
2. ``--retrain-users`` people drawing for ``--retrain-seconds`` while a
   retrain runs (``digits retrain --epochs 1 --no-augment`` against the same
   instance, started 10 s in; needs ``$DIGITS_DATA_DIR``) and its model is
   promoted (``digits models promote N``) as soon as it is registered;
   beside them ``--api-clients`` programs post finished drawings to
   ``/api/v1/predict`` twice a second. Target: 0 failed requests, p99 ≤ 100 ms, and every answer after the
   promote from the new version (web workers look for a new version once a
   second, ``MODEL_CHECK_SECONDS``, so answers within that second are
   reported apart).

A drawer is one visitor: loads the page once, then draws digits the way
``static/draw.js`` sends them. While a stroke is drawn the canvas (a 280×280
PNG data URL, form-encoded as htmx posts it, with htmx's headers and the unit-grid
layout the page shows, so answers carry the bars as numbers) goes to
``POST /predict`` every 150 ms, and once more at pen-up; one request at a
time (``hx-sync="this:queue last"``). Strokes are the test drawings of
``tests/drawings.py`` drawn at about 1.2 canvas widths a second, a short
pause between strokes, 1.5 to 3 s looking at the answer after a digit, and
sometimes a Clear. Latencies are measured by the drawers themselves (send to
answer read and un-gzipped) and reported exactly, not from
locust's rounded histogram.
"""

import argparse
import base64
import csv
import json
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.loadkit import SEND_EVERY, cpu_seconds, percentiles, run_measured, stroke_frames

ROOT = Path(__file__).resolve().parent.parent
ANSWERS = "DIGITS_LOAD_ANSWERS"     # where each drawer's answers are written, one JSON a line
API_CLIENTS = "DIGITS_LOAD_API_CLIENTS"     # how many ApiClient users run beside the drawers
PAGE, API = "POST /predict", "POST /api/v1/predict"


# -- the runner ------------------------------------------------------------------------------


def run_locust(url, users, seconds, workdir, name, api_clients=0):
    """locust headless, bounded in users and time: ``users`` drawers and ``api_clients``
    programs on the JSON API. Returns its CSV rows, every answer as the users saw it and
    locust's own CPU seconds."""
    answers = Path(workdir, f"{name}-answers.jsonl")
    prefix = Path(workdir, name)
    command = [sys.executable, "-m", "locust", "-f", __file__, "--headless",
               "--users", str(users + api_clients), "--spawn-rate", str(max(1, users // 5)),
               "--run-time", f"{seconds}s", "--stop-timeout", "5", "--host", url,
               "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING",
               "--exit-code-on-error", "0", "Drawer", *(["ApiClient"] if api_clients else [])]
    env = {**os.environ, ANSWERS: str(answers), API_CLIENTS: str(api_clients),
           "PYTHONPATH": str(ROOT)}
    with open(Path(workdir, f"{name}-locust.log"), "wb") as log:
        status, _output, locust_cpu = run_measured(command, env, seconds + 120, stdout=log)
    if status != 0:
        raise SystemExit(f"bench: locust failed ({status}); see {workdir}/{name}-locust.log")
    with open(f"{prefix}_stats.csv") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    return rows, [json.loads(line) for line in answers.read_text().splitlines()], locust_cpu


def summarise(rows, answers, seconds):
    predicts = [a for a in answers if a["name"] == PAGE]
    api = [a for a in answers if a["name"] == API]
    failed = [a for a in answers if not a["ok"]]
    aggregated = rows["Aggregated"]
    return {"requests": len(answers), "predicts": len(predicts),
            "failed": len(failed), "locust_failures": int(aggregated["Failure Count"]),
            "throughput": round(len(answers) / seconds, 1),
            "predict": percentiles([a["ms"] for a in predicts]),
            "all": percentiles([a["ms"] for a in answers]),
            **({"api": {"requests": len(api), **percentiles([a["ms"] for a in api])}}
               if len(api) > 1 else {}),
            "failures": sorted({a["error"] for a in failed})[:5]}


def digits(env, *args, timeout=600):
    """``digits *args``: (exit status, its output, CPU seconds)."""
    return run_measured([str(Path(sys.executable).with_name("digits")), *args], env, timeout)


def retrain_and_promote(env, start_after, events):
    """10 s in: a short retrain against the same instance, then promote what it registered."""
    time.sleep(start_after)
    events["retrain_started"] = time.time()
    status, output, events["retrain_cpu"] = digits(env, "retrain", "--epochs", "1",
                                                   "--no-augment")
    events["retrain_finished"] = time.time()
    found = re.search(r"model version (\d+)", output)
    if status != 0 or not found:
        events["error"] = "retrain failed: " + output[-2000:]
        return
    version = found.group(1)
    events["promote_started"] = time.time()
    status, output, _cpu = digits(env, "models", "promote", version)
    if status != 0:                   # refused: the short retrain cost test accuracy
        events["promote_refused"] = output.strip()
        events["promote_started"] = time.time()
        status, output, _cpu = digits(env, "models", "promote", version, "--force")
    events["promoted"] = time.time()
    events["version"] = int(version)
    events["promote_output"] = output.strip().splitlines()[-1]


def after_promote(answers, events, check_seconds=1.0):
    """Which version answered the predictions sent after the promote."""
    promoted, new = events["promoted"], events["version"]
    readings = [a for a in answers if a["name"] in (PAGE, API)]
    later = [a for a in readings if a["sent"] >= promoted]
    old = [a for a in later if a["version"] != new]
    settled = [a for a in later if a["sent"] >= promoted + check_seconds]
    during = [a for a in readings if events["promote_started"] <= a["sent"] < promoted]
    return {"version": new, "answers_after_promote": len(later),
            "api_answers_after_promote": sum(a["name"] == API for a in later),
            "during_promote_command": len(during),
            "new_during_promote_command": sum(a["version"] == new for a in during),
            "old_version_answers": len(old),
            "old_latest_after_promote_ms": round(max((a["sent"] - promoted) * 1000
                                                     for a in old), 1) if old else None,
            "answers_from_1s_after": len(settled),
            "old_from_1s_after": sum(a["version"] != new for a in settled),
            "during_retrain": sum(1 for a in readings if events["retrain_started"] <= a["sent"]
                                  <= events["retrain_finished"])}


def cpu_report(server_cpu, locust_cpu, requests):
    """CPU per request: what the run would need of a machine, whatever else was running."""
    return {"server_cpu_ms_per_request": round(server_cpu * 1000 / requests, 2),
            "locust_cpu_ms_per_request": round(locust_cpu * 1000 / requests, 2)}


def report_line(name, users, result):
    p = result["predict"]
    return (f"{name}: {users} drawers, {result['requests']} requests "
            f"({result['throughput']} req/s), {result['failed']} failed; POST /predict "
            f"p50 {p['p50']} ms, p95 {p['p95']} ms, p99 {p['p99']} ms, max {p['max']} ms; "
            f"CPU per request: server {result['server_cpu_ms_per_request']} ms, locust "
            f"{result['locust_cpu_ms_per_request']} ms; load average "
            f"{result['load_average'][0]:.1f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--retrain-users", type=int, default=50)
    parser.add_argument("--retrain-seconds", type=int, default=120)
    parser.add_argument("--api-clients", type=int, default=5,
                        help="programs on the JSON API beside the drawers, in the retrain run")
    parser.add_argument("--only", choices=["plain", "retrain"])
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", type=Path, help="keep logs and answers in this folder")
    args = parser.parse_args(argv)
    if args.only != "plain" and not os.environ.get("DIGITS_DATA_DIR"):
        raise SystemExit("bench: the retrain scenario needs $DIGITS_DATA_DIR (MNIST); "
                         "or run --only plain")
    sys.path.insert(0, str(ROOT))
    from bench.slow_clients import UNBUDGETED, digits_serve

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="digits-load-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report = {"load_average_before": os.getloadavg(), "cpus": os.cpu_count()}
    with digits_serve(log_dir=workdir, env=UNBUDGETED) as (port, env, server):
        url = f"http://127.0.0.1:{port}"
        if args.only != "retrain":
            server_cpu = cpu_seconds(server.pid)
            rows, answers, locust_cpu = run_locust(url, args.users, args.seconds, workdir,
                                                   "plain")
            server_cpu = cpu_seconds(server.pid) - server_cpu
            report["plain"] = {"users": args.users, "seconds": args.seconds,
                               **summarise(rows, answers, args.seconds),
                               **cpu_report(server_cpu, locust_cpu, len(answers)),
                               "load_average": os.getloadavg()}
            print(report_line("plain", args.users, report["plain"]), flush=True)
        if args.only != "plain":
            events = {}
            retrain = threading.Thread(target=retrain_and_promote, args=(env, 10, events))
            retrain.start()
            server_cpu = cpu_seconds(server.pid)
            rows, answers, locust_cpu = run_locust(url, args.retrain_users,
                                                   args.retrain_seconds, workdir, "retrain",
                                                   api_clients=args.api_clients)
            server_cpu = cpu_seconds(server.pid) - server_cpu
            retrain.join()
            if "error" in events:
                raise SystemExit(events["error"])
            result = {"users": args.retrain_users, "api_clients": args.api_clients,
                      "seconds": args.retrain_seconds,
                      **summarise(rows, answers, args.retrain_seconds),
                      **cpu_report(server_cpu, locust_cpu, len(answers)),
                      "retrain_seconds": round(events["retrain_finished"]
                                               - events["retrain_started"], 1),
                      "retrain_cpu_seconds": round(events["retrain_cpu"], 1),
                      "promote": events["promote_output"],
                      "promote_refused": events.get("promote_refused"),
                      **after_promote(answers, events), "load_average": os.getloadavg()}
            report["retrain"] = result
            print(report_line("retrain + promote", args.retrain_users, result), flush=True)
            print(f"  retrain {result['retrain_seconds']} s ({result['retrain_cpu_seconds']} s "
                  f"of CPU), {result['during_retrain']} "
                  f"predictions during it; {result['promote']}"
                  + (f" (forced: {result['promote_refused']})"
                     if result["promote_refused"] else ""))
            print(f"  while `digits models promote` ran: {result['during_promote_command']} "
                  f"answers, {result['new_during_promote_command']} already from the new "
                  f"version")
            if "api" in result:
                api = result["api"]
                print(f"  {args.api_clients} API clients: {api['requests']} requests, "
                      f"p50 {api['p50']} ms, p95 {api['p95']} ms, p99 {api['p99']} ms")
            last_old = result["old_latest_after_promote_ms"]
            print(f"  after the promote: {result['answers_after_promote']} answers "
                  f"({result['api_answers_after_promote']} from the API), "
                  f"{result['old_version_answers']} from the old version"
                  + (f" (the last sent {last_old} ms after it)" if last_old is not None else "")
                  + f"; from 1 s after: {result['answers_from_1s_after']} answers, "
                  f"{result['old_from_1s_after']} old")
    report["load_average_after"] = os.getloadavg()
    print(json.dumps(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"logs and answers in {workdir}")


if __name__ == "__main__":
    main()
else:       # loaded by locust: the simulated visitor
    import random
    from urllib.parse import urlencode

    from locust import FastHttpUser, events, task

    DRAWINGS = []
    ANSWER_LOG = []
    HEADERS = {"HX-Request": "true", "HX-Trigger": "reader", "HX-Target": "reading",
               "Content-Type": "application/x-www-form-urlencoded",
               # geventhttpclient cannot decode zstd, so these visitors are Safari's: gzip
               # (level 1, a little dearer for the server than the zstd Chromium gets).
               "Accept-Encoding": "gzip", "Sec-Fetch-Site": "same-origin"}
    MODEL = re.compile(rb'data-model="(\d+)"')
    GRID = re.compile(rb'data-grid="([^"]*)"')

    @events.init.add_listener
    def make_drawings(environment, **_kwargs):
        sys.path.insert(0, str(ROOT))
        from tests.drawings import all_drawings

        DRAWINGS.extend(stroke_frames(strokes) for _digit, strokes in
                        all_drawings().values())

    @events.quitting.add_listener
    def write_answers(environment, **_kwargs):
        with open(os.environ[ANSWERS], "w") as f:
            for answer in ANSWER_LOG:
                f.write(json.dumps(answer) + "\n")

    def timed(client, method, path, name, version_of=None, **kwargs):
        """One request, timed and recorded; a reading must name the model version."""
        sent = time.time()
        started = time.perf_counter()
        with client.request(method, path, name=name, catch_response=True,
                            **kwargs) as response:
            body = response.content if response.status_code == 200 else b""
            ms = (time.perf_counter() - started) * 1000
            version = version_of(body) if version_of and body else None
            error = None
            if response.status_code != 200:
                error = f"status {response.status_code}"
            elif version_of and version is None:
                error = "no model version in the answer"
            if error:
                response.failure(error)
            ANSWER_LOG.append({"name": name, "sent": sent, "ms": ms, "ok": error is None,
                               "error": error, "version": version})
        return body

    def fragment_version(body):
        found = MODEL.search(body)
        return int(found.group(1)) if found else None

    def api_version(body):
        return json.loads(body)["model"]["version"]

    class Drawer(FastHttpUser):
        """One visitor at the draw page."""

        def on_start(self):
            self.seq = 0
            page = timed(self.client, "GET", "/", "GET /", headers={"Accept-Encoding": "gzip"})
            # The unit-grid layout the page shows: draw.js sends it with every drawing,
            # and answers for that layout carry the bars as numbers, not as new tiles.
            found = GRID.search(page)
            self.grid = found.group(1).decode() if found else ""

        def send(self, data_url):
            self.seq += 1
            started = time.monotonic()
            timed(self.client, "POST", "/predict", PAGE, fragment_version, headers=HEADERS,
                  data=urlencode({"image": data_url, "seq": self.seq, "grid": self.grid}))
            return started

        @task
        def draw_a_digit(self):
            for index, frames in enumerate(random.choice(DRAWINGS)):
                if index:
                    time.sleep(random.uniform(0.2, 0.5))       # pen up, to the next stroke
                for frame in frames:
                    started = self.send(frame)
                    # The page's timer: the next picture SEND_EVERY after the last was sent,
                    # or at once when the answer took longer (one request at a time).
                    time.sleep(max(0.0, SEND_EVERY - (time.monotonic() - started)))
            time.sleep(random.uniform(1.5, 3.0))                # reading the answer
            if random.random() < 0.3:
                self.send("data:image/png;base64,"              # Clear sends a blank canvas
                          + base64.b64encode(BLANK).decode())
                time.sleep(random.uniform(0.3, 0.8))

    class ApiClient(FastHttpUser):
        """A program using the JSON API: a finished drawing's PNG twice a second."""

        fixed_count = int(os.environ.get(API_CLIENTS, "0"))

        @task
        def predict(self):
            png = base64.b64decode(random.choice(DRAWINGS)[-1][-1].split(",", 1)[1])
            timed(self.client, "POST", "/api/v1/predict", API, api_version, data=png,
                  headers={"Content-Type": "image/png"})
            time.sleep(0.5)

    def _blank():
        import io

        from PIL import Image

        buffer = io.BytesIO()
        Image.new("RGB", (280, 280), "white").save(buffer, "PNG")
        return buffer.getvalue()

    BLANK = _blank()
