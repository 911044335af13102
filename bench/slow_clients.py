"""Slow-client benchmark (not a test): do 200 dripping connections starve everyone else?

    python -m bench.slow_clients [--connections 200] [--seconds 30] [--rounds 2] [--sync]
    (or: make bench-slow)

Starts ``digits serve`` as shipped (its default workers and threads, the
shipped model, a fresh instance folder) on a free loopback port. Then, in
``--rounds`` alternating rounds, it measures normal requests (a new
visitor's ``GET /`` and a ``POST /api/v1/predict`` of a 280×280 canvas PNG,
one after the other, each on a new connection) first on a quiet server,
then while ``--connections`` connections each send one byte a second: half
of them drip a request's headers, half send complete headers and then
trickle the body. Reports p50, p95, p99 and the slowest answer for both, and
how many dripping connections the server was still holding at the end.
Target: p95 ≤ 100 ms with 200 dripping connections.

``--sync`` runs the same against gunicorn's sync workers (two, as
``digits serve`` had before), to show what the default protects against;
each normal request then gives up after 5 s.
"""

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from tests.support import free_port

ROOT = Path(__file__).resolve().parent.parent
# Every simulated person of a benchmark comes from one loopback address, which the
# per-client budgets (samples, readings a second) would take for one flooding client.
UNBUDGETED = {"DIGITS_RATELIMIT_ENABLED": "false"}


def wait_until_up(port, process, log, seconds=60):
    deadline = time.monotonic() + seconds
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise SystemExit("bench: the server did not start:\n"
                                 + Path(log).read_text(errors="replace")[-3000:])
            time.sleep(0.2)


@contextmanager
def digits_serve(*args, env=None, sync=False, log_dir=None):
    """``digits serve *args`` on a free port with a fresh instance folder; yields
    (port, env, process).

    Its output goes to ``serve.log`` in ``log_dir`` (a temporary folder by default).
    ``sync=True`` runs plain gunicorn with two sync workers instead, for comparison.
    """
    with tempfile.TemporaryDirectory(prefix="digits-bench-") as tmp:
        port = free_port()
        env = {**os.environ, "DIGITS_INSTANCE_PATH": str(Path(tmp, "instance")),
               "DIGITS_SECRET_KEY": "bench", **(env or {})}
        if sync:
            command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
                       "--workers", "2", "--no-control-socket", "webapp:create_app()"]
        else:
            digits = Path(sys.executable).with_name("digits")
            command = [str(digits), "serve", "--port", str(port), *args]
        log = Path(log_dir or tmp, "serve.log")
        with open(log, "wb") as out:
            process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                       cwd=ROOT)
        try:
            wait_until_up(port, process, log)
            yield port, env, process
        finally:
            process.terminate()
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Drippers:
    """``count`` connections sending one byte a second until ``close()``.

    Even ones drip a request line and headers that never end; odd ones send a
    POST's complete headers (Content-Length 100,000) and trickle its body.
    """

    def __init__(self, port, count):
        self.sockets, self.stopped, self.broken = [], threading.Event(), 0
        for i in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            if i % 2:
                s.sendall(b"POST /api/v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Content-Type: image/png\r\nContent-Length: 100000\r\n\r\n")
            s.sendall(b"G" if i % 2 == 0 else b"\x89")
            self.sockets.append((s, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " if i % 2 == 0
                                 else None))
        self.thread = threading.Thread(target=self._drip, daemon=True)
        self.thread.start()

    def _drip(self):
        tick = 1
        while not self.stopped.wait(1.0):
            for i, (s, header) in enumerate(self.sockets):
                if s is None:
                    continue
                byte = (header[tick:tick + 1] or b"a") if header else b"\x00"
                try:
                    s.sendall(byte)
                except OSError:         # the server closed it
                    self.broken += 1
                    s.close()
                    self.sockets[i] = (None, None)
            tick += 1

    def close(self):
        self.stopped.set()
        self.thread.join()
        held = sum(1 for s, _ in self.sockets if s is not None)
        for s, _ in self.sockets:
            if s is not None:
                s.close()
        return held


def normal_requests(port, seconds, png, timeout):
    """A new visitor's requests, one after another, for ``seconds``: latencies (ms), failures."""
    latencies, failures = [], 0
    deadline = time.monotonic() + seconds
    requests = [("GET", "/", None, {}),
                ("POST", "/api/v1/predict", png, {"Content-Type": "image/png"})]
    while time.monotonic() < deadline:
        for method, path, body, headers in requests:
            started = time.perf_counter()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                connection.close()
                if response.status != 200:
                    failures += 1
                    continue
            except OSError:
                failures += 1
                continue
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies, failures


def summary(latencies, failures):
    if not latencies:
        return {"n": 0, "failed": failures}
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"n": len(latencies), "failed": failures, "p50": round(q[49], 1),
            "p95": round(q[94], 1), "p99": round(q[98], 1), "max": round(max(latencies), 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30, help="per measurement")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sync", action="store_true",
                        help="gunicorn sync workers instead of digits serve's default")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from tests.images import drawing

    png = drawing("7")
    timeout = 5 if args.sync else 30
    results = {"quiet": ([], 0), "dripping": ([], 0)}
    held = []
    with digits_serve(sync=args.sync, env=UNBUDGETED) as (port, _env, _process):
        normal_requests(port, 2, png, timeout)              # warm up every worker
        for round_ in range(args.rounds):
            for phase in ("quiet", "dripping"):
                drippers = Drippers(port, args.connections) if phase == "dripping" else None
                if drippers:
                    time.sleep(2)                           # every connection has dripped
                latencies, failures = normal_requests(port, args.seconds, png, timeout)
                if drippers:
                    held.append(drippers.close())
                before = results[phase]
                results[phase] = (before[0] + latencies, before[1] + failures)
                print(f"round {round_ + 1} {phase:8s} {summary(latencies, failures)}"
                      + (f"  dripping connections still open: {held[-1]}" if drippers else ""),
                      flush=True)
    report = {"server": "gunicorn sync, 2 workers" if args.sync else "digits serve (default)",
              "connections": args.connections, "load_average": os.getloadavg(),
              "held_open": held, **{phase: summary(*values) for phase, values in results.items()}}
    print(json.dumps(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    dripping = report["dripping"]
    met = dripping.get("p95", float("inf")) <= 100 and dripping["failed"] == 0
    print(f"with {args.connections} dripping connections: p95 {dripping.get('p95')} ms, "
          f"{dripping['failed']} failed (target p95 <= 100 ms: {'met' if met else 'MISSED'})")


if __name__ == "__main__":
    main()
