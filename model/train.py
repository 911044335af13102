"""The training loop: epochs of shuffled mini-batches, a learning-rate schedule,
validation after every epoch and the best-on-validation weights kept.

Validation is the last 5,000 training images, never the test set. A caller
watches progress through ``on_epoch`` (the CLI draws a progress bar with it; a
background trainer could record it) and may stop training by raising from it.
"""

import math
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import numpy as np

from . import augment as augmentation
from . import mnist
from .geometry import inputs
from .network import Network


@dataclass(frozen=True)
class TrainConfig:
    """Every training setting and its default, in one place (the CLI and the admin read these)."""

    hidden: tuple = (256,)
    activation: str = "sigmoid"
    cost: str = "cross_entropy"
    epochs: int = 60
    batch_size: int = 128
    eta: float = 0.5            # peak learning rate
    momentum: float = 0.9
    weight_decay: float = 5e-5  # L2 on weights
    schedule: str = "cosine"    # "cosine" decays eta to 0 over the run; "constant" keeps it
    warmup_epochs: int = 1      # eta ramps up linearly over these first epochs
    augment: bool = True
    deskew: bool = True
    seed: int = 0
    extra_repeat: int = 1       # times each extra (collected) image is seen per epoch
    validation_size: int = mnist.VALIDATION_SIZE  # the last images of the training set
    augment_config: augmentation.AugmentConfig = field(default_factory=augmentation.AugmentConfig)


def learning_rate(config, progress):
    """eta at ``progress`` epochs into training (a float, 0 <= progress < epochs)."""
    if progress < config.warmup_epochs:
        return config.eta * (progress + 1e-3) / config.warmup_epochs
    if config.schedule == "constant":
        return config.eta
    span = max(config.epochs - config.warmup_epochs, 1e-9)
    return config.eta * 0.5 * (1 + math.cos(math.pi * (progress - config.warmup_epochs) / span))


BATCH = 5000       # images per forward pass when measuring: memory, not results
TRAIN_SAMPLE = 10_000   # training images measured after each epoch (train_accuracy, loss)


def measure(net, X, labels, batch_size=BATCH):
    """``{"accuracy", "loss", "confusion", "per_class"}`` of ``net`` on inputs ``X`` (n, 784).

    Accuracy in 0-1, mean cross-entropy, the (10, 10) confusion matrix (rows:
    truth) and ``per_class_accuracy`` of it.
    """
    confusion = np.zeros((10, 10), dtype=np.int64)
    total_loss = 0.0
    for i in range(0, len(X), batch_size):
        out = net.feedforward(X[i:i + batch_size])
        truth = labels[i:i + batch_size]
        np.add.at(confusion, (truth, out.argmax(axis=1)), 1)
        total_loss -= np.log(np.maximum(out[np.arange(len(truth)), truth], 1e-30)).sum()
    return {"accuracy": float(np.trace(confusion) / max(len(X), 1)),
            "loss": float(total_loss / max(len(X), 1)),
            "confusion": confusion, "per_class": per_class_accuracy(confusion)}


def per_class_accuracy(confusion):
    """Each digit's share read right, from a (10, 10) confusion matrix; None for a digit
    with no images ("no digits"), never a division by zero."""
    totals = confusion.sum(axis=1)
    return [float(confusion[d, d] / totals[d]) if totals[d] else None for d in range(10)]


CHECK_EVERY = 32    # mini-batches between calls of a training run's ``check``


def run_epoch(net, X, Y, batch_size, eta_at, rng, momentum=0.0, weight_decay=0.0, check=None):
    """One pass over ``X`` (n, 784), ``Y`` (n, 10) in a random order.

    ``eta_at(fraction)`` gives the learning rate at a fraction 0..1 of the
    epoch, so schedules move smoothly within an epoch. ``check()``, if given,
    is called every ``CHECK_EVERY`` mini-batches and may raise to stop.
    """
    n = len(X)
    order = rng.permutation(n)
    for k, i in enumerate(range(0, n, batch_size)):
        if check is not None and k % CHECK_EVERY == 0:
            check()
        idx = order[i:i + batch_size]
        net.update_mini_batch(X[idx], Y[idx], eta_at(i / n), momentum, weight_decay)


def train(config, data, on_epoch=None, extra=None, start=None, check=None):
    """Train a network on ``data`` (from ``mnist.load``) with ``config``.

    ``extra`` is ``(images, labels)``: more training digits (k, 28, 28) (uint8, or
    float in [0, 1], undeskewed, as MNIST's; generated forms or the corrections
    users made), prepared and augmented like MNIST's and shuffled in with them
    every epoch, each seen ``config.extra_repeat`` times; validation stays
    MNIST's own. ``start`` is a network to fine-tune (a copy is trained; its
    sizes and input contract win over ``config``'s).

    Returns ``(net, history)``: the best-on-validation network and a list of
    per-epoch dicts (epoch, eta, seconds, loss, train_accuracy, val_accuracy,
    val_loss); loss and train_accuracy are measured on a fixed sample of
    ``TRAIN_SAMPLE`` training images. ``on_epoch(record, net)`` is called after every epoch with the
    network as trained so far (not the best one kept); ``check()`` every few
    mini-batches. Raising from either stops training.
    """
    shuffle_rng, augment_rng = (np.random.default_rng(s)
                                for s in np.random.SeedSequence(config.seed).spawn(2))
    train_images, train_labels, val_images, val_labels = mnist.split_validation(
        data["train_images"], data["train_labels"], config.validation_size)
    net = fresh_network(config) if start is None else copy_network(start)
    # Deskew once; augmentation then perturbs the canonical, upright digits,
    # which is the distribution deskewed drawings come from.
    base = inputs(net, train_images).reshape(-1, 28, 28)
    if extra is not None and len(extra[0]):
        extra_images, extra_labels = extra
        if len(extra_images) != len(extra_labels):
            raise ValueError(f"extra has {len(extra_images)} images but {len(extra_labels)} labels")
        repeat = max(int(config.extra_repeat), 1)
        more = inputs(net, extra_images).reshape(-1, 28, 28)
        base = np.concatenate([base, *[more] * repeat])
        train_labels = np.concatenate([train_labels,
                                       *[np.asarray(extra_labels, dtype=np.int64)] * repeat])
    X_clean = base.reshape(len(base), -1)
    Y = mnist.one_hot(train_labels)
    X_val = inputs(net, val_images)
    # The training set's accuracy and loss after each epoch, measured on a fixed sample of
    # it: a forward pass over all of it would cost a third of the epoch again.
    sample = np.arange(len(base))
    if len(base) > TRAIN_SAMPLE:
        sample = np.sort(np.random.default_rng([config.seed, 5]).choice(
            len(base), TRAIN_SAMPLE, replace=False))

    best = (-1.0, None)
    history = []
    distorted = None
    for epoch in range(config.epochs):
        start = time.perf_counter()
        X = X_clean
        if config.augment:
            distorted = augmentation.augment(base, augment_rng, config.augment_config,
                                             train_labels, out=distorted)
            X = distorted.reshape(len(base), -1)
        run_epoch(net, X, Y, config.batch_size,
                  lambda fraction: learning_rate(config, epoch + fraction), shuffle_rng,
                  config.momentum, config.weight_decay, check)
        seconds = time.perf_counter() - start
        train_metrics = measure(net, X_clean[sample], train_labels[sample])
        val_metrics = measure(net, X_val, val_labels)
        record = {"epoch": epoch + 1, "eta": learning_rate(config, epoch), "seconds": seconds,
                  "loss": train_metrics["loss"], "train_accuracy": train_metrics["accuracy"],
                  "val_accuracy": val_metrics["accuracy"], "val_loss": val_metrics["loss"]}
        history.append(record)
        if val_metrics["accuracy"] > best[0]:
            best = (val_metrics["accuracy"],
                    ([w.copy() for w in net.weights], [b.copy() for b in net.biases]))
        if on_epoch:
            on_epoch(record, net)
    net.weights, net.biases = best[1]
    net.velocities = None
    return net, history


def fresh_network(config):
    return Network([784, *config.hidden, 10], activation=config.activation, cost=config.cost,
                   seed=config.seed, deskew=config.deskew)


def copy_network(net):
    """A trainable copy of ``net`` (same sizes, activation, cost, dtype and input contract)."""
    copy = Network(net.sizes, activation=net.activation, cost=net.cost, dtype=net.dtype,
                   deskew=net.deskew)
    copy.weights = [w.copy() for w in net.weights]
    copy.biases = [b.copy() for b in net.biases]
    return copy


def widen(net, hidden, seed=0):
    """``net`` (one hidden layer) with ``hidden`` hidden units, reading exactly as before.

    The old units keep their weights; each new unit gets fresh incoming weights
    (the same scale as ``Network``'s) and outgoing weights of zero, so the
    widened network's outputs are the old one's until training moves them
    (Chen et al. 2016's Net2Net, function-preserving growth). Training then
    starts from what the old network learnt instead of from nothing.
    """
    if len(net.sizes) != 3 or hidden < net.sizes[1]:
        raise ValueError(f"can only widen one hidden layer to at least its {net.sizes[1:-1]} "
                         f"units, not to {hidden}")
    wider = copy_network(net)
    if hidden == net.sizes[1]:
        return wider
    fresh = Network([net.sizes[0], hidden, net.sizes[2]], activation=net.activation,
                    cost=net.cost, dtype=net.dtype, seed=seed, deskew=net.deskew)
    old = net.sizes[1]
    w0, w1 = fresh.weights[0].copy(), np.zeros_like(fresh.weights[1])
    w0[:, :old], w1[:old] = net.weights[0], net.weights[1]
    b0 = np.zeros(hidden, dtype=net.dtype)
    b0[:old] = net.biases[0]
    wider.sizes = fresh.sizes
    wider.weights, wider.biases = [w0, w1], [b0, net.biases[1].copy()]
    return wider


def config_dict(config):
    """``config`` as plain JSON-ready data for checkpoint metadata."""
    d = asdict(config)
    d["hidden"] = list(config.hidden)
    return d


# What every checkpoint this code trains expects as input (model.inputs applies the rest).
INPUT_CONTRACT = "28x28 MNIST-normalised, white ink on black, in [0, 1]"


def best_epoch(history):
    """The epoch record (from ``train``'s history) with the best validation accuracy."""
    return max(history, key=lambda r: r["val_accuracy"])


def metadata(config, data, history, metrics, recipe=None, command=""):
    """A checkpoint's metadata, the one layout for ``digits train`` and a retrain.

    ``metrics`` (test accuracy and loss, and whatever else was measured) gains the
    best epoch and its validation accuracy from ``history``; ``recipe`` adds to the
    training settings (the extra data); ``command`` says what made it.
    """
    best = best_epoch(history)
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "preprocessing": {"input": INPUT_CONTRACT},
        "training": {**config_dict(config), **(recipe or {})},
        "metrics": {**metrics, "best_epoch": best["epoch"], "val_accuracy": best["val_accuracy"]},
        "history": history,
        "data_sha256": data["sha256"],
        "command": command,
    }


def train_with_metadata(config, data, on_epoch=None, extra=None, recipe=None, command="",
                        start=None):
    """``train`` then measure on MNIST's test set: ``(net, metadata)`` for a checkpoint.

    ``extra``, ``on_epoch`` and ``start`` go to ``train``; ``recipe`` and ``command`` to
    ``metadata``.
    """
    net, history = train(config, data, on_epoch=on_epoch, extra=extra, start=start)
    test = measure(net, inputs(net, data["test_images"]), data["test_labels"])
    return net, metadata(config, data, history,
                         {"test_accuracy": test["accuracy"], "test_loss": test["loss"]},
                         recipe, command)
