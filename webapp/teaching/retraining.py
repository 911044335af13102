"""What a training run computes: the data, the network, the epochs, the results and the
new model version; ``worker.execute`` calls ``retrain`` and keeps the run's row.

Progress goes to the run's row after every epoch: the numbers of the epoch, and
pictures of a few hidden units' incoming weights, the same units from the start
to the end, so the dashboard can show the network learning. At the end the
network is measured (MNIST test set, per class, confusion, worst mistakes, the
held-out collected samples, the styled digits) and registered, never promoted.
"""

import base64
import time
from dataclasses import asdict, replace

import numpy as np
from flask import current_app

import model
from model import mnist, styles, train

from ..core import registry, samples
from ..core.db import db
from . import class_tuning, runs
from .settings import RetrainSettings

UNITS_SHOWN = 6          # hidden units whose incoming weights the dashboard shows
UNITS_EPOCHS_KEPT = 30   # the start plus the latest epochs of those pictures
WORST_SHOWN = 12         # test images read wrongly with the highest confidence


def retrain(run_id, heartbeat, data_dir, report):
    """The run itself: data, network, epochs, evaluation, registration. Returns
    ``(version_id, results)``; ``heartbeat.check()`` raises ``worker.Stopped`` to end it."""
    run = runs.get(run_id)
    if run.classroom_id is not None:
        return class_tuning.teach(run, heartbeat, data_dir, report)
    began = time.perf_counter()
    settings = RetrainSettings(**run.settings)
    data = mnist.load(data_dir or current_app.config["DATA_DIR"], download=True)
    extra = None
    if settings.include_samples:
        runs.write(run_id, phase="loading collected samples")
        extra = samples.training_set(include_new=settings.include_new)
        db.session.commit()
    heartbeat.check()
    net, config, start_version = starting_network(settings)
    trained, history = train_watched(run_id, heartbeat, config, data, extra, net, report)

    runs.write(run_id, phase="evaluating", progress=0.95)
    held_out = samples.held_out_set()
    db.session.commit()      # no transaction (SQLite's write lock) while evaluating
    best = train.best_epoch(history)
    results = {**run_results(trained, data, held_out), "val_accuracy": best["val_accuracy"],
               "best_epoch": best["epoch"], "start_version": start_version,
               "trained_samples": 0 if extra is None else len(extra[1]),
               "sizes": trained.sizes, "settings": asdict(settings)}
    heartbeat.check()

    runs.write(run_id, phase="saving", progress=0.98)
    results["seconds"] = round(time.perf_counter() - began, 1)
    return register(run_id, trained, config, data, history, results), results


def starting_network(settings):
    """``(net, config, version)``: the serving version's network to fine-tune (and its
    number), or a fresh one (and None)."""
    config = train.TrainConfig(hidden=(settings.hidden,), epochs=settings.epochs,
                               eta=settings.eta, batch_size=settings.batch_size,
                               augment=settings.augment, extra_repeat=settings.sample_weight)
    if settings.start == "scratch":
        return train.fresh_network(config), config, None
    version_id = registry.serving_id()
    net, _ = registry.load_version(registry.get(version_id))
    db.session.commit()
    return net, replace(config, hidden=tuple(net.sizes[1:-1])), version_id


def train_watched(run_id, heartbeat, config, data, extra, net, report):
    """``train.train`` with every epoch written to the run's row; ``(net, history)``."""
    units = tracked_units(net)
    pictures = [unit_pictures(net, units, 0)]
    history = []
    runs.write(run_id, phase=f"epoch 1 of {config.epochs}", progress=0.02, units=pictures)

    def on_epoch(record, live):
        heartbeat.check()
        epoch = int(record["epoch"])
        history.append({**{key: float(value) for key, value in record.items()}, "epoch": epoch})
        pictures.append(unit_pictures(live, units, epoch))
        del pictures[1:-(UNITS_EPOCHS_KEPT - 1)]
        running = runs.write(run_id, epoch=epoch, progress=0.02 + 0.93 * epoch / config.epochs,
                             phase=(f"epoch {epoch + 1} of {config.epochs}"
                                    if epoch < config.epochs else "evaluating"),
                             history=history, units=pictures)
        if not running:
            heartbeat.mark_lost()
        elif runs.cancel_requested(run_id):
            heartbeat.mark_cancelled()
        if report:
            report(history[-1])
        heartbeat.check()

    # heartbeat.check between mini-batches: a cancel (seen by the heartbeat thread) stops
    # the run within a couple of seconds, not at the end of the epoch.
    trained, _ = train.train(config, data, on_epoch=on_epoch, extra=extra, start=net,
                             check=heartbeat.check)
    return trained, history


def register(run_id, net, config, data, history, results):
    """Add ``net`` as a new model version (one row) and return its number, uncommitted:
    ``worker.execute`` commits it with the run's results, so a version and its run's
    success are stored together or not at all (a full disk fails the run, whole)."""
    metrics = {"test_accuracy": results["test_accuracy"], "test_loss": results["test_loss"],
               "val_accuracy": results["val_accuracy"],
               "held_out_accuracy": results["held_out"]["accuracy"],
               "held_out_n": results["held_out"]["n"], "styles": results["styles"]}
    meta = train.metadata(config, data, history, metrics,
                          recipe={"start_version": results["start_version"],
                                  "samples": results["trained_samples"]},
                          command=f"training run {run_id}")
    return registry.register(net, meta, metrics=metrics, origin=f"run {run_id}",
                             run_id=run_id, commit=False).id


def tracked_units(net, count=UNITS_SHOWN):
    """The first-hidden-layer units with the largest outgoing weights at the start: the
    ones that matter most to the answer, chosen once so every epoch shows the same ones."""
    if len(net.sizes) < 3:
        return []
    strength = np.linalg.norm(net.weights[1], axis=1)
    return sorted(int(u) for u in np.argsort(-strength, kind="stable")[:count])


def unit_pictures(net, units, epoch):
    """``{"epoch", "units", "weights"}``: each unit's 784 incoming weights, 4 decimals."""
    return {"epoch": int(epoch), "units": units,
            "weights": [np.round(net.weights[0][:, u].astype(np.float64), 4).tolist()
                        for u in units]}


def run_results(net, data, held_out):
    """A run's results dict: MNIST test accuracy and loss, per class (None: no digits of that
    class), confusion, worst mistakes, the held-out samples' accuracy and the styled digits."""
    X = model.inputs(net, data["test_images"])
    labels = data["test_labels"]
    test = train.measure(net, X, labels)
    probabilities = np.concatenate([net.feedforward(X[i:i + train.BATCH])
                                    for i in range(0, len(X), train.BATCH)])
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    worst = wrong[np.argsort(-confidence[wrong], kind="stable")][:WORST_SHOWN]
    images, held_labels = held_out
    held_accuracy = None
    if len(held_labels):
        held_accuracy = float((net.predict(model.inputs(net, images)) == held_labels).mean())
    return {
        "test_accuracy": test["accuracy"], "test_loss": test["loss"],
        "per_class": test["per_class"], "confusion": test["confusion"].tolist(),
        "worst": [{"pixels": base64.b64encode(data["test_images"][i].tobytes()).decode("ascii"),
                   "label": int(labels[i]), "predicted": int(predicted[i]),
                   "confidence": round(float(confidence[i]), 4)} for i in worst],
        "held_out": {"n": int(len(held_labels)), "accuracy": held_accuracy},
        "styles": styles.styled_accuracy(net, data),
    }
