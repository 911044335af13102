"""What explaining a reading costs: attribution, a unit's arithmetic and dreams, against a forward pass.

``python -m bench.explain``. On the shipped model (``model/pretrained.npz``,
784-256-10) and MNIST test digits from ``tests/fixtures``, it times, in one
process and round-robin so a busy machine slows every contender alike:

- the forward pass a reading runs (``Network.forward`` on one input row);
- ``attribution`` (integrated gradients, 32 Gauss-Legendre nodes, float64);
- ``strongest_unit`` + ``unit_arithmetic`` (the default unit's sums, float64);
- the whole explanation a request adds (both of the above): the issue's
  budget is 2 ms of server CPU on top of a reading;
- one ``dream`` and all ten ``dreams`` in one batch: the budget is 1 s per digit;
- then the web app in-process (Flask's test client, no server): the CPU time
  (``time.process_time``) of the page's ``POST /predict`` with and without the
  ``explain`` field (the live panels), of ``POST /api/v1/explain`` against
  ``POST /api/v1/predict``, and of a dream's first and cached request;
- and this machine's speed, to compare machines by: a 10-million-step Python
  loop and a bare Flask request in-process.

It prints the median of each, its ratio to the forward pass, the worst
completeness gap of the attributions, and each dream's p(digit). BLAS
threads matter on a shared machine: set ``OPENBLAS_NUM_THREADS=1`` to see
single-core costs of the model's steps. The web app's requests run with one
BLAS thread, as each ``digits serve`` worker does; with more, the threads that
wait spin, and the process's CPU time counted them (2.9 ms "added" by the
panels that cost 1.1 ms of wall time).
"""

import argparse
import base64
import os
import statistics
import tempfile
import time
import urllib.parse
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import model
from model import dream, explain, mnist

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
EXPLAIN_BUDGET_MS = 2.0
DREAM_BUDGET_S = 1.0


def timed(call):
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def round_robin(contenders, repeats):
    """Seconds per call for each named callable, run in turn ``repeats`` times."""
    times = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, call in contenders.items():
            times[name].append(timed(call))
    return times


def cpu_timed(call):
    start = time.process_time()
    call()
    return time.process_time() - start


def machine_speed():
    """Seconds for a 10-million-step Python loop; ms per bare Flask request in-process."""
    from bench.slower import loop_seconds
    from bench.web import bare_app

    loop = loop_seconds(rounds=1)
    bare = bare_app().test_client()
    times = [timed(lambda: bare.post("/api/v1/predict", data=b"x", content_type="image/png"))
             for _ in range(500)]
    return loop, statistics.median(times) * 1e3


def web_costs(repeats):
    """Median CPU ms per request, in-process, for the page's and the API's paths with and
    without an explanation, and a dream's first and cached answer."""
    from tests.drawings import BASE, render
    from tests.support import app_config
    from webapp import create_app

    png = render(BASE["3"][1])
    grid = "-".join(map(str, model.load(model.PRETRAINED)[0].sizes[1:-1]))   # the page's grids
    # One BLAS thread, as each web worker has (``ops.server.serving_app``): OpenBLAS's
    # other threads spin while they wait, and process CPU would count them.
    with tempfile.TemporaryDirectory() as instance, threadpool_limits(1, user_api="blas"):
        app = create_app(app_config(instance, MODEL=str(model.PRETRAINED), LOG_REQUESTS=False,
                                    MODEL_CHECK_SECONDS=3600))
        client = app.test_client()
        page = {"image": "data:image/png;base64," + base64.b64encode(png).decode(), "seq": "1",
                "grid": grid}
        headers = {"HX-Request": "true"}

        def form(**extra):
            body = urllib.parse.urlencode({**page, **extra})
            return lambda: client.post("/predict", data=body, headers=headers,
                                       content_type="application/x-www-form-urlencoded")

        contenders = {
            "page reading": form(),
            "page reading + why panels": form(explain="reading", unit=""),
            "page reading + why not 8, unit 17": form(explain="8", unit="17"),
            "API predict": lambda: client.post("/api/v1/predict", data=png,
                                               content_type="image/png"),
            "API explain": lambda: client.post("/api/v1/explain", data=png,
                                               content_type="image/png"),
        }
        for call in contenders.values():
            assert call().status_code == 200
        costs = {name: [] for name in contenders}
        for _ in range(repeats):
            for name, call in contenders.items():
                costs[name].append(cpu_timed(call))
        medians = {name: statistics.median(v) * 1e3 for name, v in costs.items()}
        first = cpu_timed(lambda: client.get("/api/v1/dream/5")) * 1e3
        first_wall = timed(lambda: client.get("/api/v1/dream/6")) * 1e3
        cached = statistics.median(cpu_timed(lambda: client.get("/api/v1/dream/5"))
                                   for _ in range(50)) * 1e3
        sizes = {name: len(call().data) for name, call in contenders.items()}
    return medians, first, first_wall, cached, sizes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200, help="timed calls of each fast step")
    parser.add_argument("--dream-repeats", type=int, default=5, help="timed dreams")
    parser.add_argument("--web-repeats", type=int, default=200, help="timed requests of each kind")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]

    net, meta = model.load(model.PRETRAINED)
    images = mnist.read_idx(FIXTURES / "t10k-500-images-idx3-ubyte.gz")[:50]
    X = model.inputs(net, images)
    print(f"model {net.sizes} {net.activation} {net.dtype.name}; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
          f"{os.cpu_count()} CPUs")

    rows = iter(np.resize(np.arange(len(X)), 10 ** 6))
    fast = {
        "forward (one reading)": lambda: net.forward(X[next(rows)][None]),
        "attribution": lambda: explain.attribution(net, X[next(rows)], 3),
        "unit arithmetic (strongest)": lambda: (
            lambda x: explain.unit_arithmetic(net, x, explain.strongest_unit(net, x)))(
            X[next(rows)]),
        "explanation (both)": lambda: (
            lambda x: (explain.attribution(net, x, 3),
                       explain.unit_arithmetic(net, x, explain.strongest_unit(net, x))))(
            X[next(rows)]),
    }
    round_robin(fast, 10)  # warm caches and BLAS threads
    medians = {name: statistics.median(t) for name, t in round_robin(fast, args.repeats).items()}
    base = medians["forward (one reading)"]

    slow = {"dream (one digit)": lambda: dream.dream(net, 3),
            "dreams (all ten, one batch)": lambda: dream.dreams(net)}
    medians.update({name: statistics.median(t)
                    for name, t in round_robin(slow, args.dream_repeats).items()})

    print(f"\n{'step':32} {'median':>12} {'× forward':>10}")
    for name, seconds in medians.items():
        shown = f"{seconds * 1e3:.3f} ms" if seconds < 1 else f"{seconds:.2f} s"
        print(f"{name:32} {shown:>12} {seconds / base:>10.1f}")

    explain_ms = medians["explanation (both)"] * 1e3
    per_dream = medians["dreams (all ten, one batch)"] / 10
    print(f"\nexplaining adds {explain_ms:.2f} ms to a reading "
          f"(budget {EXPLAIN_BUDGET_MS} ms: {'met' if explain_ms <= EXPLAIN_BUDGET_MS else 'MISSED'})")
    alone = medians["dream (one digit)"]
    print(f"a dream takes {alone:.3f} s alone ({'met' if alone <= DREAM_BUDGET_S else 'MISSED'}), "
          f"{per_dream:.3f} s per digit in a batch of ten "
          f"({'met' if per_dream <= DREAM_BUDGET_S else 'MISSED'}; budget {DREAM_BUDGET_S} s)")

    gaps = [abs(explain.attribution(net, x, d).gap) for x in X[:20] for d in range(10)]
    print(f"attribution completeness: worst |Σ attribution − (S(x) − S(blank))| = "
          f"{max(gaps):.1e} over 20 digits × 10 explained digits")
    dreams = dream.dreams(net)
    again = net.feedforward(model.inputs(net, np.stack([d.image for d in dreams]).reshape(-1, 28, 28)))
    print("dreams read as their digit: p = " + ", ".join(
        f"{d.digit}: {d.probabilities[d.digit]:.3f}" for d in dreams))
    print("  after the model's preprocessing again: " + ", ".join(
        f"{d.digit}: {again[d.digit, d.digit]:.3f}" for d in dreams))

    medians, first, first_wall, cached, sizes = web_costs(args.web_repeats)
    print(f"\nweb app in-process, median CPU ms per request over {args.web_repeats}:")
    for name, ms in medians.items():
        print(f"  {name:36} {ms:7.3f} ms   {sizes[name]:>7} bytes")
    added = medians["page reading + why panels"] - medians["page reading"]
    added_api = medians["API explain"] - medians["API predict"]
    print(f"the why panels add {added:.2f} ms of server CPU to a page reading; explain adds "
          f"{added_api:.2f} ms to predict (budget {EXPLAIN_BUDGET_MS} ms: "
          f"{'met' if max(added, added_api) <= EXPLAIN_BUDGET_MS else 'MISSED'})")
    print(f"a dream's first request: {first:.0f} ms CPU ({first_wall:.0f} ms wall for another "
          f"digit); cached: {cached:.3f} ms (budget {DREAM_BUDGET_S * 1e3:.0f} ms: "
          f"{'met' if max(first, first_wall) <= DREAM_BUDGET_S * 1e3 else 'MISSED'})")
    loop, bare_ms = machine_speed()
    print(f"\nthis machine: a 10M-step Python loop takes {loop:.2f} s; a bare Flask request "
          f"in-process {bare_ms:.3f} ms; load average {load_before:.1f} → "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
