"""What explaining a reading costs: attribution, a unit's arithmetic and dreams, against a forward pass.

``python -m bench.explain``. On the shipped model (``model/pretrained.npz``,
784-256-10) and MNIST test digits from ``tests/fixtures``, it times, in one
process and round-robin so a busy machine slows every contender alike:

- the forward pass a reading runs (``Network.forward`` on one input row);
- ``attribution`` (integrated gradients, 32 Gauss-Legendre nodes, float64);
- ``strongest_unit`` + ``unit_arithmetic`` (the default unit's sums, float64);
- the whole explanation a request adds (both of the above): the issue's
  budget is 2 ms of server CPU on top of a reading;
- one ``dream`` and all ten ``dreams`` in one batch: the budget is 1 s per digit.

It prints the median of each, its ratio to the forward pass, the worst
completeness gap of the attributions, and each dream's p(digit). BLAS
threads matter on a shared machine: set ``OPENBLAS_NUM_THREADS=1`` to see
single-core costs (the web app's workers each take one request at a time).
"""

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200, help="timed calls of each fast step")
    parser.add_argument("--dream-repeats", type=int, default=5, help="timed dreams")
    args = parser.parse_args(argv)

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


if __name__ == "__main__":
    main()
