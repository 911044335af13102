"""What the load tests share: the pictures a page sends while a digit is drawn, CPU and
latency accounting. ``bench.load`` (anyone drawing) and ``bench.load_class`` (a class)
import it; it defines no locust users, so either locust file loads only its own.
"""

import base64
import os
import statistics
import subprocess
import threading
from pathlib import Path

SEND_EVERY = 0.150          # s, draw.js's SEND_EVERY_MS
PEN_SPEED = 1.2             # canvas widths a second


def stroke_frames(strokes):
    """The PNG data URLs a page sends while ``strokes`` are drawn: per stroke, one every
    SEND_EVERY while the pen moves and one at pen-up. [[data URL, …] per stroke]."""
    import math

    from tests.drawings import render

    def encode(drawn):
        return "data:image/png;base64," + base64.b64encode(render(drawn)).decode()

    sends = []
    for index, stroke in enumerate(strokes):
        lengths = [math.dist(a, b) for a, b in zip(stroke, stroke[1:])]
        total = sum(lengths) or 1e-6
        duration = total / PEN_SPEED
        times = [SEND_EVERY * k for k in range(1, int(duration / SEND_EVERY) + 1)]
        frames = []
        for moment in [t for t in times if t < duration] + [duration]:     # …, pen-up
            reach, walked, partial = PEN_SPEED * moment, 0.0, [stroke[0]]
            for (ax, ay), (bx, by), length in zip(stroke, stroke[1:], lengths):
                if walked + length >= reach:       # the pen is part way along this segment
                    f = (reach - walked) / length
                    partial.append((ax + f * (bx - ax), ay + f * (by - ay)))
                    break
                walked += length
                partial.append((bx, by))
            frames.append(encode(strokes[:index] + [partial]))
        sends.append(frames)
    return sends


def cpu_seconds(pid):
    """CPU time (user + system) of process ``pid`` and all its descendants so far (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    parents, total = {}, 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    for candidate, (_parent, ticks) in parents.items():
        ancestor = candidate
        while ancestor in parents and ancestor != pid:
            ancestor = parents[ancestor][0]
        if ancestor == pid:
            total += ticks / tick
    return total


def run_measured(command, env, timeout, stdout=subprocess.PIPE):
    """Run ``command`` to its end (killed after ``timeout`` s): (exit status, its standard
    output if piped, the CPU seconds it used), the CPU from the kernel's own count (wait4)."""
    process = subprocess.Popen(command, env=env, stdout=stdout, stderr=subprocess.STDOUT,
                               text=stdout is subprocess.PIPE)
    killer = threading.Timer(timeout, process.kill)
    killer.start()
    output = process.stdout.read() if stdout is subprocess.PIPE else None
    _pid, status, usage = os.wait4(process.pid, 0)
    killer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)     # reaped here, not by Popen
    return process.returncode, output, usage.ru_utime + usage.ru_stime


def percentiles(latencies):
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"p50": round(q[49], 1), "p95": round(q[94], 1), "p99": round(q[98], 1),
            "max": round(max(latencies), 1)}
