"""The network the app serves: loaded once per process, swapped when the served version changes.

flaskr's ``db.py`` pattern for a shared resource: ``init_app(app)`` loads the
serving model version at start-up and keeps it on ``app.extensions``; views
call ``get_model()`` once per request and use that one snapshot throughout,
so a prediction never mixes two models. Every gunicorn worker on every host
holds its own copy, so each must notice a promotion: at most once per
``MODEL_CHECK_SECONDS`` a request reads the serving version's number from the
database and, when it changed, loads the new version completely, checks its
SHA-256 and contents, and only then swaps it in. A version that fails to load
leaves the previous model serving, and the failure is logged.

A check never holds up predictions for long: it runs in a thread of its own
that the request waits for at most ``CHECK_WAIT_SECONDS`` (a healthy check
takes milliseconds, so the next request already serves a promotion), and not
at all once a check has failed; it reads without taking SQLite's write lock
(a busy writer cannot stall it); only one check runs at a time in a process;
and after a failure (the database down, or not answering until its connect
timeout) checks come less and less often (``RETRY_SECONDS``) until one succeeds.
"""

import functools
import threading
import time
from dataclasses import dataclass

import numpy as np
from flask import current_app, request
from sqlalchemy.orm import Session

import model

from . import registry
from .db import ModelVersion, db

RETRY_SECONDS = (1, 2, 4, 8)     # waits after the 1st, 2nd, 3rd, later failed checks
CHECK_WAIT_SECONDS = 0.5         # the longest a request waits for a check


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

    @functools.cached_property      # sorted once per reading (a frozen dataclass still has a
    def ranked(self):               # __dict__, which cached_property writes directly)
        return np.argsort(-self.probabilities, kind="stable").tolist()

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
    """One loaded model version: the network, its metadata and its version number."""

    net: model.Network
    meta: dict
    version: int

    @property
    def hidden_sizes(self):
        return self.net.sizes[1:-1]

    @functools.cached_property
    def exact(self):
        """The network in float64, made once per loaded version: explanations' sums then check
        to many digits (``model.explain``), without a copy of the weights per request."""
        return self.net.astype(np.float64)

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


def load_serving(current=None):
    """The serving version as a ``Loaded``, or ``current`` if that is still the one to serve.

    Reads through a short read-only session of its own, so the request's session is
    left alone. Raises ``model.CheckpointError`` for a version that does not load.
    """
    with Session(db.engine.execution_options(read_only=True)) as session:
        version_id = registry.serving_id(session)
        if current is not None and current.version == version_id:
            return current
        version = session.get(ModelVersion, version_id)
        net, meta = registry.load_version(version)
    return Loaded(net=net, meta=meta, version=version_id)


class ServedModel:
    """The current ``Loaded`` model for one process, following the database's serving row."""

    def __init__(self, check_seconds, logger=None):
        self.check_seconds = float(check_seconds)
        self.logger = logger
        self._lock = threading.Lock()          # held by the one thread checking
        self._loaded = load_serving()
        self._next_check = time.monotonic() + self.check_seconds
        self._failures = 0
        self.turns = threading.Lock()          # see ``takes_turns``

    def current(self, app=None):
        """The model to use for this request (one consistent snapshot).

        ``app`` is the running app (default: ``current_app``; the reading's fast
        path has no app context).
        """
        if time.monotonic() >= self._next_check and self._lock.acquire(blocking=False):
            check = threading.Thread(target=self._check, daemon=True, name="served-model-check",
                                     args=(app or current_app._get_current_object(),))
            check.start()
            if not self._failures:
                check.join(CHECK_WAIT_SECONDS)
        return self._loaded

    def _check(self, app):
        """Follow the serving row once; the caller holds ``_lock``, released here."""
        try:
            with app.app_context():
                self._follow()
        finally:
            self._lock.release()

    def _follow(self):
        try:
            loaded = load_serving(self._loaded)
        except Exception as exc:      # SQLAlchemyError, model.CheckpointError, or worse
            self._failures += 1
            wait = RETRY_SECONDS[min(self._failures, len(RETRY_SECONDS)) - 1]
            self._next_check = time.monotonic() + max(self.check_seconds, wait)
            if self.logger:
                self.logger.error("keeping model version %s (checking again in %d s): %s",
                                  self._loaded.version, wait,
                                  (str(exc) or type(exc).__name__).splitlines()[0])
            return
        self._failures = 0
        self._next_check = time.monotonic() + self.check_seconds
        if loaded is self._loaded:
            return
        self._loaded = loaded
        if self.logger:
            self.logger.info("now serving model version %d", loaded.version)


def init_app(app):
    """Load the version the database says to serve (version 1, the shipped model, at first)."""
    with app.app_context():
        app.extensions["digits_model"] = ServedModel(
            check_seconds=app.config["MODEL_CHECK_SECONDS"], logger=app.logger)


def switch_seconds(app):
    """How long after a change of the serving row every working web process serves it:
    each looks at most ``MODEL_CHECK_SECONDS`` after its last look, and a check that
    finds a new version has loaded it within ``CHECK_WAIT_SECONDS``."""
    return float(app.config["MODEL_CHECK_SECONDS"]) + CHECK_WAIT_SECONDS


def get_model():
    """The current ``Loaded`` model of the running app."""
    return current_app.extensions["digits_model"].current()


def turns():
    """The lock CPU-bound reading takes in this process (see ``takes_turns``)."""
    return current_app.extensions["digits_model"].turns


def takes_turns(view):
    """Run a CPU-bound view (decode, network, answer) one request at a time per process.

    A worker's threads run Python one at a time anyway (the GIL), but NumPy and
    the decoders release it many times per request; with several requests in
    flight every release hands the GIL to another thread, and a request cost
    ~40 % more CPU under load (measured: bench/web.py). Threads queue on this
    lock instead. The body is read first, outside the lock, so a slow upload
    never holds up the others, and so is a look for a new model version
    (``get_model``), which may wait for the database; the answer is sent after
    the lock is released.
    """
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        request.get_data(cache=True)
        get_model()
        with current_app.extensions["digits_model"].turns:
            return view(*args, **kwargs)
    return wrapper
