"""Retrain speed: seconds for an admin retrain with the default settings, as the dashboard runs it.

``python -m bench.retrain`` (``make bench-retrain``). A fresh instance folder
serves the shipped model and holds ``--samples`` collected digits (10,000 by
default, plus a held-out fifth on top; they are MNIST training digits through
the training augmentation, stored as the app stores a correction). A real
training worker (``digits worker``, started as ``digits serve`` starts it)
consumes the queue; the bench starts a run with ``retrain.FINE_TUNE`` exactly as
the Train button does and waits for it. The time reported is the run's own,
queued to finished (worker pick-up, MNIST load, the epochs, evaluation and
registration), read from its row; the median of ``--repeat`` runs, one after
another. The worker trains with one BLAS thread (``worker.WORKER_ENVIRONMENT`` in
``webapp/teaching``), so its CPU time, printed beside, is the time the run takes on an idle
machine: a busy machine stretches the wall time, not the work. Each run's
MNIST test accuracy is printed too: the defaults must keep the shipped model at
99.0 % or better.
"""

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np
from PIL import Image
from sqlalchemy import insert

import model
from model import augment, mnist
from webapp import create_app
from webapp.core.db import Sample, TrainingRun, db
from webapp.teaching import runs, settings as retrain, worker as training_worker

LIMIT_SECONDS = 60


def collected_digits(data, n, seed=0):
    """``n`` stand-ins for collected samples: distorted MNIST training digits, uint8 (n, 28, 28)."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(data["train_images"]), n, replace=False)
    labels = data["train_labels"][chosen]
    images = augment.augment(data["train_images"][chosen] / np.float32(255), rng,
                             labels=labels)
    return (np.clip(images, 0, 1) * 255).round().astype(np.uint8), labels


def png(pixels):
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def store_samples(images, labels, held_out_every=5):
    """Rows as ``corrections.add`` stores them, accepted (reviewed); every ``held_out_every``-th
    one held out."""
    rows = [{"label": int(label), "predicted": None, "model_version": 1, "source": "api",
             "upload": png(image), "upload_type": "image/png", "pixels": image.tobytes(),
             "held_out": i % held_out_every == held_out_every - 1, "state": "accepted"}
            for i, (image, label) in enumerate(zip(images, labels))]
    db.session.execute(insert(Sample), rows)
    db.session.commit()


def cpu_seconds(pid):
    """CPU time (user + system, all threads) process ``pid`` has used so far."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_for(run_id, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = db.session.get(TrainingRun, run_id)
        db.session.refresh(run)
        status = run.status
        db.session.commit()
        if status not in runs.ACTIVE:
            return db.session.get(TrainingRun, run_id)
        time.sleep(0.5)
    raise SystemExit(f"bench: run {run_id} did not finish within {timeout} s")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=10_000,
                        help="collected samples trained on (a fifth more are held out)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the median is reported")
    parser.add_argument("--data-dir", help="MNIST directory (default: $DIGITS_DATA_DIR, "
                                           "else ~/.cache/digits/mnist)")
    parser.add_argument("--json", dest="json_out", help="also write the numbers to this file")
    args = parser.parse_args(argv)

    data_dir = str(mnist.resolve_data_dir(args.data_dir))
    data = mnist.load(data_dir, download=True)
    instance = tempfile.mkdtemp(prefix="bench-retrain-")
    app = create_app({"INSTANCE_PATH": instance, "SECRET_KEY": "bench", "DATA_DIR": data_dir,
                      "MODEL": str(model.PRETRAINED)})
    # The worker builds the same app from the environment, as under ``digits serve``.
    env = {**os.environ, "DIGITS_INSTANCE_PATH": instance, "DIGITS_DATA_DIR": data_dir}
    held_out = args.samples // 4               # a fifth of all collected, as the app holds out
    with app.app_context():
        if args.samples:
            images, labels = collected_digits(data, args.samples + held_out)
            store_samples(images, labels)
        worker = training_worker.start_consumer_process(env)
        results = []
        try:
            for _ in range(args.repeat):
                cpu_before = cpu_seconds(worker.pid)
                run = runs.start(retrain.FINE_TUNE)
                run = wait_for(run.id, timeout=30 * LIMIT_SECONDS)
                cpu = cpu_seconds(worker.pid) - cpu_before
                if run.status != "succeeded":
                    raise SystemExit(f"bench: run {run.id} {run.status}: {run.error}")
                seconds = (db.as_utc(run.finished) - db.as_utc(run.created)).total_seconds()
                record = {"run": run.id, "seconds": round(seconds, 1),
                          "training_seconds": round((db.as_utc(run.finished)
                                                     - db.as_utc(run.started)).total_seconds(), 1),
                          "worker_cpu_seconds": round(cpu, 1),
                          "epoch_seconds": [round(h["seconds"], 1) for h in run.history],
                          "test_accuracy": run.results["test_accuracy"],
                          "held_out_accuracy": run.results["held_out"]["accuracy"],
                          "load": round(os.getloadavg()[0], 2)}
                results.append(record)
                print(json.dumps(record), flush=True)
        finally:
            training_worker.stop_consumer_process(worker)

    median = statistics.median(r["seconds"] for r in results)
    cpu = statistics.median(r["worker_cpu_seconds"] for r in results)
    defaults = ", ".join(f"{k} {v}" for k, v in vars(retrain.FINE_TUNE).items())
    print(f"retrain with the defaults ({defaults})")
    print(f"on MNIST + {args.samples:,} collected samples: median {median:.1f} s of "
          f"{[r['seconds'] for r in results]} (limit {LIMIT_SECONDS} s); the worker's own CPU "
          f"time {cpu:.1f} s (what the run takes when nothing else competes for its core); "
          f"load average {[r['load'] for r in results]}; MNIST test accuracy "
          f"{[r['test_accuracy'] for r in results]}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"defaults": vars(retrain.FINE_TUNE), "samples": args.samples,
                       "runs": results, "median_seconds": median,
                       "median_worker_cpu_seconds": cpu}, f, indent=1)
    return 0 if median <= LIMIT_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
