"""Training speed: seconds per MNIST epoch for our NumPy network against PyTorch on the CPU.

``python -m bench.training`` (``make bench``). Every contender trains 784-128-10 (sigmoid
hidden layer, softmax read with cross-entropy) by plain SGD, eta 0.1, batch
128, on all 60,000 training images, shuffled each epoch the same way and
starting from the same weights; epochs run round-robin in one process so a
busy machine slows all of them alike, and medians are reported. The
contenders: ``Network.update_mini_batch`` driven by ``train.run_epoch``
(exactly what training runs), PyTorch doing the identical network and batch,
and the plain vectorised NumPy a first version would be. Their epochs are
set against this machine's float32 GEMM peak: an epoch is, to within a few
percent, matrix products, so epoch FLOPs / peak is the fastest it can be.

A second table prices augmentation for the shipped configuration (784-256-10,
momentum, weight decay) over 60,000 images: a plain epoch, an augmented one
(distort, then train, as ``train.train`` runs it). ``--reference`` also times
the seed's per-sample loop on part of an epoch and extrapolates.

PyTorch is an optional extra (``pip install -e '.[bench]'``), never imported
by the app; neither is threadpoolctl, which only sharpens the BLAS report.
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

from model import augment as augmentation
from model import inputs, mnist, prepare, train
from model.network import Network

SIZES = (784, 128, 10)
BATCH = 128
ETA = 0.1
SEED = 0
TARGET_VS_TORCH = 0.8     # our epoch must take at most this fraction of PyTorch's
AUGMENT_LIMIT = 3.0       # an augmented epoch may cost at most this many plain ones
SETTLE_SECONDS = 0.3      # OpenBLAS's idle threads spin for up to ~0.1 s before sleeping


# -- the machine -------------------------------------------------------------------

def blas_report():
    """(description, threads) of the BLAS behind NumPy's matrix products."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        threads = int(os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
                      or os.cpu_count())
        return f"{blas['name']} {blas['version']} (threads assumed, no threadpoolctl)", threads
    pools = [p for p in threadpool_info() if p["user_api"] == "blas"]
    # NumPy's own BLAS, not another library's that happens to be loaded.
    pool = next((p for p in pools if "numpy" in p["filepath"]), pools[0])
    kernels = f", {pool['architecture']} kernels" if pool.get("architecture") else ""
    return f"{pool['internal_api']} {pool['version']}{kernels}", pool["num_threads"]


def gemm_gflops(matmul, make, size=2048, repeats=7):
    """float32 GFLOP/s of ``matmul`` on two size x size matrices built by ``make``.

    The best of ``repeats``: a peak, and other programs on the machine only
    ever slow a product down.
    """
    a, b = make(size), make(size)
    time.sleep(SETTLE_SECONDS)
    matmul(a, b)
    fastest = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b)
        fastest = min(fastest, time.perf_counter() - start)
    return 2 * size ** 3 / fastest / 1e9


def epoch_flops(sizes, n):
    """Multiply-add FLOPs of one epoch: forward, weight gradients, and the hidden errors.

    The input layer's error is never computed (nothing needs it), by us or PyTorch.
    """
    products = [m * k for m, k in zip(sizes[:-1], sizes[1:])]
    return 2 * n * (2 * sum(products) + sum(products[1:]))


# -- the contenders ----------------------------------------------------------------
# Each is (epoch(rng), accuracy(X_test, labels)); epoch draws its shuffle from rng
# first, so contenders handed equal generators visit the same batches.

def ours(net, X, Y):
    def epoch(rng):
        train.run_epoch(net, X, Y, BATCH, lambda fraction: ETA, rng)

    return epoch, lambda X_test, labels: net.count_correct(X_test, labels) / len(labels)


def naive(net, X, Y):
    """The straightforward vectorised NumPy step: fresh arrays everywhere, nothing fused."""
    weights = [w.copy() for w in net.weights]
    biases = [b.copy() for b in net.biases]

    def feedforward(X_batch):
        with np.errstate(over="ignore"):  # exp(-z) overflows to inf for z << 0: sigmoid 0
            hidden = 1 / (1 + np.exp(-(X_batch @ weights[0] + biases[0])))
        z = hidden @ weights[1] + biases[1]
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return hidden, e / e.sum(axis=1, keepdims=True)

    def epoch(rng):
        order = rng.permutation(len(X))
        for i in range(0, len(X), BATCH):
            idx = order[i:i + BATCH]
            X_batch, Y_batch = X[idx], Y[idx]
            hidden, out = feedforward(X_batch)
            delta_out = (out - Y_batch) / len(idx)
            delta_hidden = (delta_out @ weights[1].T) * hidden * (1 - hidden)
            weights[1] -= ETA * (hidden.T @ delta_out)
            biases[1] -= ETA * delta_out.sum(axis=0)
            weights[0] -= ETA * (X_batch.T @ delta_hidden)
            biases[0] -= ETA * delta_hidden.sum(axis=0)

    def accuracy(X_test, labels):
        return float(np.mean(feedforward(X_test)[1].argmax(axis=1) == labels))

    return epoch, accuracy


def pytorch(torch, net, X, labels):
    """The same network, loss, optimiser and batches in PyTorch's idiomatic training loop."""
    layers = [torch.nn.Linear(m, k) for m, k in zip(net.sizes[:-1], net.sizes[1:])]
    with torch.no_grad():
        for layer, w, b in zip(layers, net.weights, net.biases):
            layer.weight.copy_(torch.from_numpy(w.T))
            layer.bias.copy_(torch.from_numpy(b))
    model = torch.nn.Sequential(layers[0], torch.nn.Sigmoid(), layers[1])
    optimizer = torch.optim.SGD(model.parameters(), lr=ETA)
    X_t, labels_t = torch.from_numpy(X), torch.from_numpy(labels.astype(np.int64))

    def epoch(rng):
        order = torch.from_numpy(rng.permutation(len(X)))
        for i in range(0, len(X), BATCH):
            idx = order[i:i + BATCH]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(X_t[idx]), labels_t[idx])
            loss.backward()
            optimizer.step()

    def accuracy(X_test, labels):
        with torch.no_grad():
            predicted = model(torch.from_numpy(X_test)).argmax(dim=1).numpy()
        return float(np.mean(predicted == labels))

    return epoch, accuracy


def seed_loop_seconds(net, X, Y, samples):
    """Seconds the seed's per-sample loop (Nielsen's column vectors, float64) takes for
    ``samples`` images of an epoch; training here is only timed, never evaluated."""
    weights = [w.T.astype(np.float64) for w in net.weights]
    biases = [b.astype(np.float64)[:, None] for b in net.biases]
    start = time.perf_counter()
    for i in range(0, samples, BATCH):
        nabla_w = [np.zeros(w.shape) for w in weights]
        nabla_b = [np.zeros(b.shape) for b in biases]
        for x, y in zip(X[i:i + BATCH], Y[i:i + BATCH]):
            x, y = x[:, None].astype(np.float64), y[:, None].astype(np.float64)
            hidden = 1 / (1 + np.exp(-(weights[0] @ x + biases[0])))
            z = weights[1] @ hidden + biases[1]
            out = np.exp(z - z.max())
            out /= out.sum()
            delta = out - y
            nabla_w[1] += delta @ hidden.T
            nabla_b[1] += delta
            delta = (weights[1].T @ delta) * hidden * (1 - hidden)
            nabla_w[0] += delta @ x.T
            nabla_b[0] += delta
        weights = [w - ETA / BATCH * nw for w, nw in zip(weights, nabla_w)]
        biases = [b - ETA / BATCH * nb for b, nb in zip(biases, nabla_b)]
    return time.perf_counter() - start


def shipped(images, labels):
    """Epochs of the shipped configuration over ``images``: plain, and augmented as
    ``train.train`` runs it. Returns ``(config, plain(rng), augmented(rng),
    augment_seconds)``; both draw their shuffle and distortion from ``rng``.
    """
    config = train.TrainConfig()
    base = inputs(train.fresh_network(config), images).reshape(-1, 28, 28)
    X_plain = base.reshape(len(base), -1)
    Y = mnist.one_hot(labels)
    augment_seconds = []

    distorted = np.empty_like(base)   # reused across epochs, as train.train does

    def distort(rng):
        start = time.perf_counter()
        augmentation.augment(base, rng, config.augment_config, labels, out=distorted)
        augment_seconds.append(time.perf_counter() - start)
        return distorted.reshape(len(base), -1)

    def trainer():
        net = train.fresh_network(config)
        return lambda X, rng: train.run_epoch(
            net, X, Y, config.batch_size, lambda fraction: config.eta, rng, config.momentum,
            config.weight_decay)

    plain_epoch, augmented_epoch = trainer(), trainer()

    return (config, lambda rng: plain_epoch(X_plain, rng),
            lambda rng: augmented_epoch(distort(rng), rng), augment_seconds)


# -- the run -----------------------------------------------------------------------

def interleaved(contenders, epochs):
    """Seconds of each contender's ``epochs`` timed epochs, run round-robin after a warm-up.

    Round r hands every contender ``default_rng(r)``, so all shuffle alike.
    """
    times = {name: [] for name in contenders}
    names = list(contenders)
    for round_ in range(epochs + 1):
        # Rotate who goes first so no contender always follows the same neighbour.
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            # BLAS and OpenMP threads spin for a while after their last task; let
            # them fall asleep so they take no core from the next contender.
            time.sleep(SETTLE_SECONDS)
            start = time.perf_counter()
            contenders[name](np.random.default_rng(round_))
            if round_:
                times[name].append(time.perf_counter() - start)
    return times


def main(args):
    try:
        data = mnist.load(args.data_dir, download=args.download)
    except mnist.DataError as exc:
        sys.exit(f"bench: {exc}")
    try:
        import torch
    except ImportError:
        torch = None
    if args.threads:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            sys.exit("digits: --threads needs threadpoolctl (pip install threadpoolctl)")
        with threadpool_limits(limits=args.threads, user_api="blas"):
            result = measure(args, data, torch if args.torch else None)
    else:
        result = measure(args, data, torch if args.torch else None)
    print_report(result)
    if torch is None:
        print("\nPyTorch is not installed, so only NumPy was timed. For the comparison: "
              "pip install -e '.[bench]'  (torch==2.13.0, CPU wheel)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
        print(f"\nwrote {args.json}")


def measure(args, data, torch):
    """Every number of the report, as one JSON-ready dict."""
    load_average = os.getloadavg()[0]
    blas, threads = blas_report()
    X, labels = prepare(data["train_images"], use_deskew=False), data["train_labels"]
    Y = mnist.one_hot(labels)
    X_test, test_labels = prepare(data["test_images"], use_deskew=False), data["test_labels"]
    n = len(X)
    flops = epoch_flops(SIZES, n)
    peaks = {"numpy": gemm_gflops(np.matmul, lambda s: np.ones((s, s), np.float32))}
    if torch is not None:
        torch.set_num_threads(threads)
        peaks["torch"] = gemm_gflops(torch.matmul, lambda s: torch.ones(s, s))
    peak = max(peaks.values())

    # Every contender starts from the same weights (naive and PyTorch copy them).
    net = Network(SIZES, seed=SEED)
    contenders = {"naive": naive(net, X, Y)}
    if torch is not None:
        contenders["torch"] = pytorch(torch, net, X, labels)
    contenders["ours"] = ours(net, X, Y)
    config, plain, augmented, augment_seconds = shipped(data["train_images"], labels)
    epochs = {name: run for name, (run, _) in contenders.items()}
    epochs.update(shipped_plain=plain, shipped_augmented=augmented)
    times = interleaved(epochs, args.epochs)
    augment_alone = statistics.median(augment_seconds[1:])  # past the warm-up
    seconds = {name: statistics.median(t) for name, t in times.items()}
    accuracy = {name: acc(X_test, test_labels) for name, (_, acc) in contenders.items()}
    seed_loop = None
    if args.reference:
        samples = min(args.reference, n)
        seed_loop = {"samples": samples, "seconds": seed_loop_seconds(
            Network(SIZES, seed=SEED), X, Y, samples) * n / samples}
    return {
        "network": "-".join(map(str, SIZES)), "batch": BATCH, "eta": ETA, "images": n,
        "timed_epochs": args.epochs, "blas": blas, "threads": threads,
        "numpy": np.__version__, "torch": torch.__version__ if torch else None,
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "load_average": load_average,
        "gemm_gflops": peaks, "peak_gflops": peak, "epoch_gflop": flops / 1e9,
        "gemm_bound_seconds": flops / peak / 1e9, "seconds": seconds, "epoch_seconds": times,
        "test_accuracy": accuracy, "seed_loop": seed_loop,
        "ours_vs_torch": seconds["ours"] / seconds["torch"] if torch else None,
        "shipped": {"config": train.config_dict(config), "augment_alone": augment_alone,
                    "augmented_vs_plain": seconds["shipped_augmented"] / seconds["shipped_plain"]},
    }


def print_report(r):
    seconds, torch_seconds = r["seconds"], r["seconds"].get("torch")
    print(f"digits bench: {r['network']} sigmoid, softmax + cross-entropy, plain SGD "
          f"(eta {r['eta']}), batch {r['batch']}, {r['images']:,} MNIST images, float32")
    print(f"NumPy {r['numpy']} on {r['blas']}, threads: {r['threads']}; "
          + (f"PyTorch {r['torch']}, threads: {r['threads']}" if r["torch"] else "no PyTorch")
          + (f"; OPENBLAS_CORETYPE={r['openblas_coretype']}" if r["openblas_coretype"] else ""))
    print("float32 GEMM 2048x2048, best of 7: "
          + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in r["gemm_gflops"].items())
          + f"; peak taken as {r['peak_gflops']:.0f}")
    print(f"one epoch = {r['epoch_gflop']:.2f} GFLOP of matrix products; medians of "
          f"{r['timed_epochs']} epochs each after one warm-up, contenders run round-robin\n")
    print(f"{'':50s}{'s/epoch':>8s}{'fastest':>8s}{'vs torch':>10s}{'GFLOP/s':>9s}"
          f"{'of peak':>9s}{'test acc':>10s}")

    def row(label, s, name=None):
        fastest = f"{min(r['epoch_seconds'][name]):.3f}" if name else "-"
        vs = f"{s / torch_seconds:.2f}x" if torch_seconds else "-"
        gflops = r["epoch_gflop"] / s
        acc = f"{r['test_accuracy'][name]:.2%}" if name else "-"
        print(f"{label:50s}{s:8.3f}{fastest:>8s}{vs:>10s}{gflops:9.1f}"
              f"{gflops / r['peak_gflops']:9.0%}{acc:>10s}")

    row("ours (Network.update_mini_batch)", seconds["ours"], "ours")
    if torch_seconds:
        row(f"PyTorch {r['torch']}", torch_seconds, "torch")
    row("naive vectorised NumPy", seconds["naive"], "naive")
    if r["seed_loop"]:
        row(f"seed's per-sample loop (extrapolated from {r['seed_loop']['samples']:,})",
            r["seed_loop"]["seconds"])
    row("GEMM-bound limit (epoch FLOPs / peak)", r["gemm_bound_seconds"])
    if torch_seconds:
        verdict = "met" if r["ours_vs_torch"] <= TARGET_VS_TORCH else "MISSED"
        print(f"\nours / PyTorch = {r['ours_vs_torch']:.2f}x (target <= {TARGET_VS_TORCH}x: "
              f"{verdict})")

    uneven = [name for name, t in r["epoch_seconds"].items() if max(t) > 1.5 * min(t)]
    if uneven:
        print(f"\nnote: epochs of {', '.join(uneven)} varied by more than 1.5x (load average "
              f"{r['load_average']:.1f} at the start): something else wanted the CPU; with "
              f"{r['threads']} BLAS threads on {os.cpu_count()} cores that costs a lot. "
              "Rerun on a quiet machine for clean numbers.")

    shipped, config = r["shipped"], r["shipped"]["config"]
    print(f"\nshipped configuration: 784-{'-'.join(map(str, config['hidden']))}-10 "
          f"{config['activation']}, batch {config['batch_size']}, momentum {config['momentum']}, "
          f"weight decay {config['weight_decay']}; {r['images']:,} images per epoch")
    plain = seconds["shipped_plain"]
    print(f"  {'plain epoch':48s}{plain:8.3f} s   1.00x")
    print(f"  {'augmented epoch (augment(), then train)':48s}{seconds['shipped_augmented']:8.3f} s"
          f"   {shipped['augmented_vs_plain']:.2f}x   (augment() alone {shipped['augment_alone']:.3f} s)")
    verdict = "met" if shipped["augmented_vs_plain"] <= AUGMENT_LIMIT else "MISSED"
    print(f"  augmented / plain <= {AUGMENT_LIMIT:.0f}x: {verdict}")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.training",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="directory with the four MNIST idx .gz files "
                        "(default: $DIGITS_DATA_DIR, else ~/.cache/digits/mnist)")
    parser.add_argument("--no-download", dest="download", action="store_false",
                        help="never fetch missing MNIST files")
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per contender")
    parser.add_argument("--threads", type=int, help="BLAS and PyTorch threads (default: "
                        "NumPy's BLAS setting; needs threadpoolctl)")
    parser.add_argument("--no-torch", dest="torch", action="store_false",
                        help="time NumPy only, even if PyTorch is installed")
    parser.add_argument("--reference", type=int, nargs="?", const=3840, default=0,
                        metavar="SAMPLES", help="also time the seed's per-sample loop on "
                        "SAMPLES images (default 3840) and extrapolate to an epoch")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
