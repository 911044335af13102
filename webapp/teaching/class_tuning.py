"""A class's "Teach it our handwriting": fine-tune the promoted model on the class's drawings.

``retraining.retrain`` hands a run here when its row names a class. The run
fine-tunes the model served to the public (never an earlier class model, so a
correction the teacher rejected after one teach is gone from the next) on the
class's accepted corrections that are not held out, each seen
``sample_weight`` times an epoch, with ``replay`` MNIST training digits
shuffled in so it keeps reading everyone else's digits. It measures the
network before and after on the class's held-out drawings (which it never
trained on), on what it was taught, and on the MNIST test set; registers the
result as a model version (never promoted) and makes it the class's model,
in the one transaction that records the run's success (``worker.execute``).
"""

import time
from dataclasses import asdict

import numpy as np
from flask import current_app

import model
from model import mnist, train

from ..core import registry, samples
from ..core.db import Classroom, db
from . import runs
from .settings import TeachSettings


def teach(run, heartbeat, data_dir, report=None):
    """Run ``run`` (a class's row); ``(version_id, results)``, the version uncommitted."""
    began = time.perf_counter()
    settings = TeachSettings(**run.settings)
    classroom = db.session.get(Classroom, run.classroom_id)
    if classroom is None:
        raise ValueError("the class was deleted before it could be taught")
    code = classroom.code
    runs.write(run.id, phase="reading the class's drawings", progress=0.02)
    taught = samples.training_set(classroom_id=run.classroom_id)
    held_out = samples.held_out_set(classroom_id=run.classroom_id)
    db.session.commit()
    if not len(taught[1]):
        raise ValueError("the class has no accepted corrections to learn from yet: have the "
                         "students draw and say which digit they meant, then teach again")
    runs.write(run.id, phase="loading MNIST", progress=0.05)
    data = mnist.load(data_dir or current_app.config["DATA_DIR"], download=True)
    heartbeat.check()
    start_version = registry.serving_id()
    before, _ = registry.load_version(registry.get(start_version))
    db.session.commit()
    config, replayed = replay(settings, data, before, seed=run.id)
    after, history = tune(run.id, heartbeat, config, replayed, taught, before, report)

    runs.write(run.id, phase="measuring before and after", progress=0.92)
    results = {
        "kind": "class", "classroom": code, "start_version": start_version,
        "trained_samples": int(len(taught[1])), "held_out_samples": int(len(held_out[1])),
        "held_out": compare(before, after, *held_out),
        "taught": compare(before, after, *taught),
        "mnist": compare(before, after, data["test_images"], data["test_labels"]),
        "settings": asdict(settings), "sizes": after.sizes,
    }
    heartbeat.check()
    results["seconds"] = round(time.perf_counter() - began, 1)
    metrics = {"test_accuracy": results["mnist"]["after"],
               "held_out_accuracy": results["held_out"]["after"],
               "held_out_n": results["held_out"]["n"]}
    meta = train.metadata(config, data, history, metrics,
                          recipe={"start_version": start_version, "classroom": code,
                                  "samples": results["trained_samples"]},
                          command=f"class {code}: training run {run.id}")
    version = registry.register(after, meta, metrics=metrics, origin=f"class {code}",
                                run_id=run.id, commit=False)
    classroom.model_version_id = version.id
    return version.id, results


def replay(settings, data, net, seed):
    """``(config, data)``: ``settings.replay`` MNIST training digits and a validation set of
    ``settings.validation`` from MNIST's own validation part, chosen at random."""
    rng = np.random.default_rng(seed)
    images, labels = data["train_images"], data["train_labels"]
    split = len(images) - mnist.VALIDATION_SIZE
    picked = rng.choice(split, size=min(settings.replay, split), replace=False)
    checked = split + rng.choice(len(images) - split,
                                 size=min(settings.validation, len(images) - split),
                                 replace=False)
    chosen = np.concatenate([picked, checked])
    config = train.TrainConfig(hidden=tuple(net.sizes[1:-1]), activation=net.activation,
                               cost=net.cost, epochs=settings.epochs, eta=settings.eta,
                               batch_size=settings.batch_size, augment=settings.augment,
                               warmup_epochs=0, extra_repeat=settings.sample_weight,
                               validation_size=len(checked), deskew=net.deskew, seed=seed)
    return config, {"train_images": images[chosen], "train_labels": labels[chosen],
                    "sha256": data["sha256"]}


def tune(run_id, heartbeat, config, data, taught, start, report):
    """Train ``start`` on the replay and the class's drawings: ``(net, history)``, the
    network after the last epoch (the class's style is wanted, not the best on MNIST)."""
    final, history = {}, []

    def on_epoch(record, live):
        heartbeat.check()
        epoch = int(record["epoch"])
        final["net"] = train.copy_network(live)
        history.append({**{key: float(value) for key, value in record.items()}, "epoch": epoch})
        runs.write(run_id, epoch=epoch, progress=0.1 + 0.8 * epoch / config.epochs,
                   phase=f"epoch {epoch} of {config.epochs} done")
        if report:
            report(record)

    train.train(config, data, on_epoch=on_epoch, extra=taught, start=start,
                check=heartbeat.check)
    return final["net"], history


def compare(before, after, images, labels):
    """``{"n", "before", "after"}``: the share of ``images`` each network reads right
    (None for no images)."""
    if not len(labels):
        return {"n": 0, "before": None, "after": None}
    return {"n": int(len(labels)),
            "before": float((before.predict(model.inputs(before, images)) == labels).mean()),
            "after": float((after.predict(model.inputs(after, images)) == labels).mean())}
