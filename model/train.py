"""The training loop: epochs of shuffled mini-batches, a learning-rate schedule,
validation after every epoch and the best-on-validation weights kept.

Validation is the last 5,000 training images, never the test set. A caller
watches progress through ``on_epoch`` (the CLI draws a progress bar with it; a
background trainer could record it) and may stop training by raising from it.
"""

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from . import augment as augmentation
from . import mnist
from .geometry import prepare
from .network import Network


@dataclass(frozen=True)
class TrainConfig:
    hidden: tuple = (256,)
    activation: str = "sigmoid"
    cost: str = "cross_entropy"
    epochs: int = 60
    batch_size: int = 128
    eta: float = 0.1            # peak learning rate
    momentum: float = 0.9
    weight_decay: float = 5e-5  # L2 on weights
    schedule: str = "cosine"    # "cosine" decays eta to 0 over the run; "constant" keeps it
    warmup_epochs: int = 1      # eta ramps up linearly over these first epochs
    augment: bool = True
    deskew: bool = True
    seed: int = 0
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


def evaluate(net, X, labels, batch_size=5000):
    """Accuracy (0-1), mean cross-entropy and the (10, 10) confusion matrix (rows: truth)."""
    confusion = np.zeros((10, 10), dtype=np.int64)
    total_loss = 0.0
    for i in range(0, len(X), batch_size):
        out = net.feedforward(X[i:i + batch_size])
        truth = labels[i:i + batch_size]
        np.add.at(confusion, (truth, out.argmax(axis=1)), 1)
        total_loss -= np.log(np.maximum(out[np.arange(len(truth)), truth], 1e-30)).sum()
    return {"accuracy": float(np.trace(confusion) / max(len(X), 1)),
            "loss": float(total_loss / max(len(X), 1)),
            "confusion": confusion}


def run_epoch(net, X, Y, batch_size, eta_at, rng, momentum=0.0, weight_decay=0.0):
    """One pass over ``X`` (n, 784), ``Y`` (n, 10) in a random order.

    ``eta_at(fraction)`` gives the learning rate at a fraction 0..1 of the
    epoch, so schedules move smoothly within an epoch.
    """
    n = len(X)
    order = rng.permutation(n)
    batches = range(0, n, batch_size)
    for i in batches:
        idx = order[i:i + batch_size]
        net.update_mini_batch(X[idx], Y[idx], eta_at(i / n), momentum, weight_decay)


def train(config, data, on_epoch=None, extra=None):
    """Train a network on ``data`` (from ``mnist.load``) with ``config``.

    ``extra``, if given, is ``(images, labels)``: more training digits (k, 28, 28)
    (uint8, or float in [0, 1], undeskewed, as MNIST's), with labels (k,). They
    are prepared and augmented like MNIST's training images and shuffled in
    with them every epoch; validation stays MNIST's own.

    Returns ``(net, history)``: the best-on-validation network and a list of
    per-epoch dicts (epoch, eta, seconds, loss, train_accuracy, val_accuracy,
    val_loss). ``on_epoch(record)`` is called after every epoch.
    """
    shuffle_rng, augment_rng = (np.random.default_rng(s)
                                for s in np.random.SeedSequence(config.seed).spawn(2))
    train_images, train_labels, val_images, val_labels = mnist.split_validation(
        data["train_images"], data["train_labels"], config.validation_size)
    # Deskew once; augmentation then perturbs the canonical, upright digits,
    # which is the distribution deskewed drawings come from.
    base = prepare(train_images, config.deskew).reshape(-1, 28, 28)
    if extra is not None:
        extra_images, extra_labels = extra
        if len(extra_images) != len(extra_labels):
            raise ValueError(f"extra has {len(extra_images)} images but {len(extra_labels)} labels")
        base = np.concatenate([base, prepare(extra_images, config.deskew).reshape(-1, 28, 28)])
        train_labels = np.concatenate([train_labels, np.asarray(extra_labels, dtype=np.int64)])
    X_clean = base.reshape(len(base), -1)
    Y = mnist.one_hot(train_labels)
    X_val = prepare(val_images, config.deskew)
    net = Network([784, *config.hidden, 10], activation=config.activation, cost=config.cost,
                  seed=config.seed)

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
                  config.momentum, config.weight_decay)
        seconds = time.perf_counter() - start
        train_metrics = evaluate(net, X_clean, train_labels)
        val_metrics = evaluate(net, X_val, val_labels)
        record = {"epoch": epoch + 1, "eta": learning_rate(config, epoch), "seconds": seconds,
                  "loss": train_metrics["loss"], "train_accuracy": train_metrics["accuracy"],
                  "val_accuracy": val_metrics["accuracy"], "val_loss": val_metrics["loss"]}
        history.append(record)
        if val_metrics["accuracy"] > best[0]:
            best = (val_metrics["accuracy"],
                    ([w.copy() for w in net.weights], [b.copy() for b in net.biases]))
        if on_epoch:
            on_epoch(record)
    net.weights, net.biases = best[1]
    net.velocities = None
    return net, history


def config_dict(config):
    """``config`` as plain JSON-ready data for checkpoint metadata."""
    d = asdict(config)
    d["hidden"] = list(config.hidden)
    return d
