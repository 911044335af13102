"""The network the app serves: loaded once per process, swapped when its file changes.

flaskr's ``db.py`` pattern for a shared resource: ``init_app(app)`` loads the
model at start-up and keeps it on ``app.extensions``; views call
``get_model()``. Every gunicorn worker holds its own copy, so a new model file
(published atomically, e.g. by ``model.save``) must be noticed by each worker:
at most once per ``MODEL_CHECK_SECONDS`` a request stats the file and reloads
it if its identity (inode, size, mtime) changed. A file that fails to load
leaves the previous model serving, and the failure is logged.
"""

import hashlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from flask import current_app

import model


@dataclass(frozen=True)
class Reading:
    """What the network made of one 28×28 image.

    ``probabilities`` (10,), ``hidden`` one array per hidden layer (units,),
    ``seen`` (28, 28) the input after the model's own preprocessing (deskew).
    ``ranked`` lists the digits from most to least probable.
    """

    probabilities: np.ndarray
    hidden: list
    seen: np.ndarray

    @property
    def ranked(self):
        return [int(d) for d in np.argsort(-self.probabilities, kind="stable")]

    @property
    def digit(self):
        return self.ranked[0]

    @property
    def confidence(self):
        return float(self.probabilities[self.digit])

    @property
    def runner_up(self):
        return self.ranked[1]


@dataclass(frozen=True)
class Loaded:
    """One loaded model file: the network, its metadata and a version string."""

    net: model.Network
    meta: dict
    version: str
    path: Path

    @property
    def hidden_sizes(self):
        return self.net.sizes[1:-1]

    def read(self, image):
        """Run the network on an MNIST-style image (28, 28) in [0, 1] → ``Reading``."""
        inputs = model.inputs(self.net, image[None])
        activations = self.net.forward(inputs)
        return Reading(probabilities=activations[-1][0],
                       hidden=[a[0] for a in activations[1:-1]],
                       seen=inputs[0].reshape(image.shape))

    def unit_weights(self, unit):
        """Incoming weights (28, 28) of first-hidden-layer ``unit``; IndexError if none."""
        if not 0 <= unit < self.net.sizes[1] or len(self.net.sizes) < 3:
            raise IndexError(unit)
        return self.net.weights[0][:, unit].reshape(28, 28)

    def unit_votes(self, unit):
        """Outgoing weights (10,) of ``unit`` to the digits, when the next layer is the output."""
        if len(self.net.sizes) != 3:
            return None
        return self.net.weights[1][unit]


def load(path):
    """Load ``path`` into a ``Loaded``; raises ``model.CheckpointError``."""
    path = Path(path)
    net, meta = model.load(path)
    if net.sizes[0] != 784 or net.sizes[-1] != 10:
        raise model.CheckpointError(f"{path}: sizes {net.sizes} do not read 28×28 digits "
                                    "(need 784 inputs and 10 outputs)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    version = str(meta.get("version") or f"{path.stem}-{digest}")
    return Loaded(net=net, meta=meta, version=version, path=path)


class ServedModel:
    """The current ``Loaded`` model for one process, reloaded when its file changes."""

    def __init__(self, path, check_seconds=1.0, logger=None):
        self.path = Path(path)
        self.check_seconds = float(check_seconds)
        self.logger = logger
        self._lock = threading.Lock()
        self._identity = self._stat()
        self._loaded = load(self.path)
        self._checked = time.monotonic()

    def _stat(self):
        st = os.stat(self.path)
        return st.st_ino, st.st_size, st.st_mtime_ns

    def current(self):
        """The model to use for this request (one consistent snapshot)."""
        now = time.monotonic()
        if now - self._checked >= self.check_seconds:
            with self._lock:
                if now - self._checked >= self.check_seconds:
                    self._checked = now
                    self._reload_if_changed()
        return self._loaded

    def _reload_if_changed(self):
        try:
            identity = self._stat()
            if identity == self._identity:
                return
            loaded = load(self.path)
        except (OSError, model.CheckpointError) as exc:
            if self.logger:
                self.logger.error("keeping model %s: cannot reload %s: %s",
                                  self._loaded.version, self.path, exc)
            return
        self._identity, self._loaded = identity, loaded
        if self.logger:
            self.logger.info("now serving model %s from %s", loaded.version, self.path)


def init_app(app):
    """Load the model named by ``app.config["MODEL"]`` (default: the shipped one)."""
    path = app.config.get("MODEL") or model.PRETRAINED
    app.extensions["digits_model"] = ServedModel(
        path, check_seconds=app.config.get("MODEL_CHECK_SECONDS", 1.0), logger=app.logger)


def get_model():
    """The current ``Loaded`` model of the running app."""
    return current_app.extensions["digits_model"].current()
