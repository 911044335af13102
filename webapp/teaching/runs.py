"""Training runs: validate a retrain's settings, start one at a time, cancel, and execute.

The dashboard and ``digits retrain`` both call these functions; the job queue
(``jobs``) only carries a run's id to ``execute`` in a worker process, and what
a run computes is in ``retraining``. A run's row (``db.TrainingRun``) is the one
record of it: the worker writes its progress, a heartbeat, its results and its
error there, and every web process reads it. ``slot`` is 1 while a run is
queued or running and is unique, so the database itself refuses a second
active run, whichever process asks.

A worker killed outright (kill -9, power loss) cannot say so: its run keeps
``running`` with a heartbeat that stops moving, and ``reap_stale`` marks it
failed once the heartbeat is older than ``JOB_STALE_SECONDS``. Nothing is
half-written: a model version is one row inserted at the very end, in the one
transaction that also records the run's success.
"""

import re
import threading
import traceback
from dataclasses import asdict, dataclass, replace
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

import model
from model import mnist, train

from .db import TrainingRun, as_utc, db, utcnow

ACTIVE = ("queued", "running")


class RunRefused(ValueError):
    """A refused start or cancel; ``str()`` says what to do instead."""


class Stopped(Exception):
    """Raised inside a run to end it early: cancelled, or its row was taken from it."""


@dataclass(frozen=True)
class RetrainSettings:
    """What the Train form sets. ``hidden`` applies only from scratch (fine-tuning keeps the
    serving model's sizes); ``sample_weight`` is how often each collected sample is seen per
    epoch; ``start`` is "serving" (fine-tune the model in service) or "scratch"."""

    hidden: int
    epochs: int
    eta: float
    batch_size: int
    augment: bool
    include_samples: bool
    sample_weight: int
    start: str = "serving"


_TRAIN = train.TrainConfig()
# Fine-tuning the serving model: a few epochs at a tenth of the from-scratch learning rate
# keep what it knows while it learns the collected styles, in under a minute on 2 cores
# with all of MNIST plus 10,000 samples (bench/retrain.py measures it).
DEFAULTS = RetrainSettings(hidden=_TRAIN.hidden[0], epochs=4, eta=0.05,
                           batch_size=_TRAIN.batch_size, augment=True, include_samples=True,
                           sample_weight=10, start="serving")
# From scratch, what the form leaves out comes from TrainConfig, the one source of defaults.
SCRATCH_DEFAULTS = replace(DEFAULTS, epochs=_TRAIN.epochs, eta=_TRAIN.eta, start="scratch")
STARTS = {"serving": "the serving model", "scratch": "scratch"}

WHOLE_NUMBERS = {  # field: (label, lowest, highest)
    "hidden": ("Hidden units", 10, 2048),
    "epochs": ("Epochs", 1, 200),
    "batch_size": ("Batch size", 1, 4096),
    "sample_weight": ("Sample weight", 1, 100),
}
ETA_RANGE = (0.0, 5.0)   # exclusive, inclusive
FIELD_LABELS = {**{name: label for name, (label, _, _) in WHOLE_NUMBERS.items()},
                "eta": "Learning rate", "start": "Start from"}
WHOLE = re.compile(r"[0-9]{1,9}", re.ASCII)
DECIMAL = re.compile(r"([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?", re.ASCII)
TRUE_WORDS = ("on", "true", "1", "yes")


def defaults_for(start):
    """The settings a form left blank takes: fine-tuning's ``DEFAULTS`` or from scratch's."""
    return SCRATCH_DEFAULTS if start == "scratch" else DEFAULTS


def _values(form, name):
    if hasattr(form, "getlist"):
        return [str(v) for v in form.getlist(name)]
    value = form.get(name)
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def _checked(form, name):
    """Checkbox semantics: present as "on", "true", "1" or "yes" (any case) means true."""
    return any(v.strip().lower() in TRUE_WORDS for v in _values(form, name))


def validate(form):
    """``(RetrainSettings, {})`` from a mapping of strings, or ``(None, {field: message})``.

    Blank or missing numbers take ``defaults_for(start)``; a missing checkbox is false.
    """
    errors = {}
    text = {name: (_values(form, name) or [""])[0].strip()
            for name in (*WHOLE_NUMBERS, "eta", "start")}
    for name in text:
        if len(_values(form, name)) > 1:
            errors[name] = f"{FIELD_LABELS[name]} came more than once: send it once."
    start = text["start"].lower() or DEFAULTS.start
    if start not in STARTS:
        errors["start"] = "Start from must be the serving model or scratch."
        start = DEFAULTS.start
    defaults = defaults_for(start)
    values = {"start": start, "augment": _checked(form, "augment"),
              "include_samples": _checked(form, "include_samples")}
    for name, (label, low, high) in WHOLE_NUMBERS.items():
        if not text[name]:
            values[name] = getattr(defaults, name)
            continue
        # ASCII digits only: int() would also take "٣", "1_000" and " 7".
        values[name] = int(text[name]) if WHOLE.fullmatch(text[name]) else None
        if values[name] is None or not low <= values[name] <= high:
            errors[name] = f"{label} must be a whole number from {low} to {high}."
    low, high = ETA_RANGE
    if not text["eta"]:
        values["eta"] = defaults.eta
    else:
        values["eta"] = float(text["eta"]) if DECIMAL.fullmatch(text["eta"]) else None
        if values["eta"] is None or not low < values["eta"] <= high:
            errors["eta"] = (f"Learning rate must be a number above {low:g} and at most "
                             f"{high:g} (e.g. {defaults.eta:g}).")
    if errors:
        return None, errors
    return RetrainSettings(**values), {}


# -- the run's row --------------------------------------------------------------------------

def snapshot(rows):
    """The runs in ``rows`` as read now, detached from the session, whose transaction ends.

    Under SQLite's ``BEGIN IMMEDIATE`` an open transaction, even a read, holds the
    write lock: a caller that kept one while it waited would stall the worker's
    progress writes. A run's row is read-only to everyone but the worker anyway.
    """
    for run in rows:
        db.session.expunge(run)
    db.session.commit()
    return rows


def get(run_id):
    """The run ``run_id`` as it is now, or None."""
    run = db.session.get(TrainingRun, run_id, populate_existing=True)
    return snapshot([run])[0] if run is not None else None


def latest():
    """The newest run (after marking runs whose worker died as failed), or None."""
    reap_stale()
    run = db.session.scalar(select(TrainingRun).order_by(TrainingRun.id.desc()).limit(1)
                            .execution_options(populate_existing=True))
    return snapshot([run])[0] if run is not None else None


def recent(limit=10):
    """The newest ``limit`` runs, newest first."""
    return snapshot(db.session.scalars(select(TrainingRun).order_by(TrainingRun.id.desc())
                                       .limit(limit)
                                       .execution_options(populate_existing=True)).all())


def reap_stale():
    """Mark failed every running run whose heartbeat is older than ``JOB_STALE_SECONDS``."""
    stale = float(current_app.config["JOB_STALE_SECONDS"])
    now = utcnow()
    cutoff = now - timedelta(seconds=stale)
    dead = db.session.execute(select(TrainingRun.id, TrainingRun.heartbeat, TrainingRun.started)
                              .where(TrainingRun.status == "running")).all()
    db.session.commit()      # under BEGIN IMMEDIATE even a read holds the write lock: end it
    reaped = []
    for run_id, heartbeat, started in dead:
        last = as_utc(heartbeat or started)
        if last is not None and last >= cutoff:
            continue
        silent = (now - last).total_seconds() if last else stale
        # The heartbeat is checked again in the UPDATE: it may have moved meanwhile.
        result = db.session.execute(
            update(TrainingRun).where(TrainingRun.id == run_id, TrainingRun.status == "running",
                                      (TrainingRun.heartbeat < cutoff)
                                      | TrainingRun.heartbeat.is_(None))
            .values(status="failed", slot=None, finished=now, phase="failed",
                    error=f"The training worker stopped (no heartbeat for {silent:.0f} s)."))
        db.session.commit()
        if result.rowcount:
            current_app.logger.warning("training run %d: no heartbeat for %.0f s, marked failed",
                                       run_id, silent)
            reaped.append(run_id)
    return reaped


def start(settings, enqueue=True):
    """Queue a run with ``settings``; ``RunRefused`` when one is already queued or running."""
    from . import jobs

    reap_stale()
    run = TrainingRun(status="queued", slot=1, settings=asdict(settings),
                      epochs=settings.epochs, phase="waiting for a worker")
    db.session.add(run)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        active = db.session.execute(select(TrainingRun.id, TrainingRun.status)
                                    .where(TrainingRun.slot == 1)).first()
        db.session.commit()
        which = f"Training run #{active.id} is already {active.status}" if active else \
            "Another training run has just started"
        raise RunRefused(f"{which}: wait for it to finish or cancel it.") from None
    run_id = run.id
    db.session.commit()
    if enqueue:
        try:
            jobs.enqueue_retrain(run_id)
        except Exception as exc:
            current_app.logger.exception("training run %d: could not queue it", run_id)
            finish(run_id, "failed", error=f"The job queue refused the run ({exc}).")
            raise RunRefused(f"The job queue is not available ({exc}); is Redis running?") \
                from None
    return get(run_id)


def cancel(run_id):
    """Cancel a queued run at once, or ask a running one to stop at its next epoch's end."""
    done = db.session.execute(
        update(TrainingRun).where(TrainingRun.id == run_id, TrainingRun.status == "queued")
        .values(status="cancelled", slot=None, finished=utcnow(), phase="cancelled"))
    if not done.rowcount:
        done = db.session.execute(
            update(TrainingRun).where(TrainingRun.id == run_id, TrainingRun.status == "running")
            .values(cancel_requested=True, phase="cancelling at the end of this epoch"))
    db.session.commit()
    run = get(run_id)
    if run is None:
        raise RunRefused(f"There is no training run #{run_id}.")
    if not done.rowcount:
        raise RunRefused(f"Training run #{run_id} is over ({run.status}); "
                         "there is nothing to cancel.")
    return run


def write(run_id, only_if="running", **values):
    """Update run ``run_id``'s row and commit, if its status is still ``only_if`` (None:
    whatever it is); True if it was updated."""
    statement = update(TrainingRun).where(TrainingRun.id == run_id)
    if only_if is not None:
        statement = statement.where(TrainingRun.status == only_if)
    updated = db.session.execute(statement.values(**values)).rowcount
    db.session.commit()
    return bool(updated)


def cancel_requested(run_id):
    requested = db.session.scalar(select(TrainingRun.cancel_requested)
                                  .where(TrainingRun.id == run_id))
    db.session.commit()
    return bool(requested)


def finish(run_id, status, **values):
    write(run_id, only_if=None, status=status, slot=None, finished=utcnow(), **values)


# -- doing the run --------------------------------------------------------------------------

class Heartbeat(threading.Thread):
    """Writes the run's heartbeat every ``interval`` seconds through its own session, and
    notices a cancel request or the row being taken away (reaped as failed)."""

    def __init__(self, engine, run_id, interval, logger):
        super().__init__(name=f"heartbeat-{run_id}", daemon=True)
        self.engine, self.run_id, self.interval, self.logger = engine, run_id, interval, logger
        self.done = threading.Event()
        self.cancel = threading.Event()
        self.lost = threading.Event()

    def beat(self):
        with Session(self.engine) as session, session.begin():
            alive = session.execute(
                update(TrainingRun).where(TrainingRun.id == self.run_id,
                                          TrainingRun.status == "running")
                .values(heartbeat=utcnow())).rowcount
            if alive and session.scalar(select(TrainingRun.cancel_requested)
                                        .where(TrainingRun.id == self.run_id)):
                self.cancel.set()
        if not alive:
            self.lost.set()

    def run(self):
        while not self.done.wait(self.interval):
            try:
                self.beat()
            except SQLAlchemyError as exc:     # the next beat tries again
                self.logger.warning("training run %d: heartbeat failed: %s", self.run_id, exc)

    def check(self):
        """Raise ``Stopped`` if the run should end now."""
        if self.lost.is_set():
            raise Stopped("The run was marked failed while it ran (its heartbeat was late).")
        if self.cancel.is_set():
            raise Stopped("cancelled")

    def stop(self):
        self.done.set()
        self.join(timeout=10)


def claim(run_id):
    """Queued → running, atomically; False when the run was cancelled or taken meanwhile."""
    now = utcnow()
    return write(run_id, only_if="queued", status="running", started=now, heartbeat=now,
                 phase="loading MNIST")


def execute(run_id, data_dir=None, report=None):
    """Do run ``run_id`` (a worker calls this, and ``digits retrain`` in-process).

    ``data_dir`` overrides ``DATA_DIR`` for MNIST; ``report(record)`` is called after
    every epoch. Never raises for a failed run (its row says why); returns the run.
    """
    from . import retraining

    app = current_app._get_current_object()
    if not claim(run_id):
        app.logger.info("training run %d is no longer queued; skipping it", run_id)
        return get(run_id)
    heartbeat = Heartbeat(db.engine, run_id, float(app.config["JOB_HEARTBEAT_SECONDS"]),
                          app.logger)
    heartbeat.start()
    try:
        version_id, results = retraining.retrain(run_id, heartbeat, data_dir, report)
        finish(run_id, "succeeded", version_id=version_id, results=results, phase="done",
               progress=1.0)
        app.logger.info("training run %d: registered model version %d", run_id, version_id)
    except Stopped as exc:
        if heartbeat.cancel.is_set():
            finish_quietly(run_id, "cancelled", phase="cancelled")
        else:
            app.logger.warning("training run %d: %s", run_id, exc)
    except Exception as exc:
        app.logger.error("training run %d failed:\n%s", run_id, traceback.format_exc())
        finish_quietly(run_id, "failed", phase="failed", error=error_message(exc))
    except BaseException:
        finish_quietly(run_id, "failed", phase="failed",
                       error="The training worker was stopped during the run.")
        raise
    finally:
        heartbeat.stop()
        db.session.remove()
    return get(run_id)


def finish_quietly(run_id, status, **values):
    """``finish``, for a run already ending badly: if even that fails (the database is
    gone), the worker lives on and the stopped heartbeat gets the run marked failed.

    On a full disk a row cannot be rewritten any larger than the room left, and the
    weight pictures are most of a run's row: the second try leaves them out.
    """
    for attempt in (values, {**values, "units": []}):
        try:
            db.session.rollback()
            finish(run_id, status, **attempt)
            return
        except SQLAlchemyError as exc:
            current_app.logger.error("training run %d: could not record it %s: %s", run_id,
                                     status, str(getattr(exc, "orig", exc)).splitlines()[0])


def error_message(exc):
    """A sentence for the dashboard; the traceback goes to the worker's log."""
    if isinstance(exc, (mnist.DataError, model.CheckpointError, ValueError)):
        return f"Training failed: {exc}"
    if isinstance(exc, SQLAlchemyError):
        # The database's own words, without the statement and its (megabytes of) parameters.
        cause = (str(getattr(exc, "orig", None) or exc).strip() or type(exc).__name__)
        return (f"Training failed: its results could not be written to the database "
                f"({cause.splitlines()[0]}); nothing was saved. Free some space or check "
                "the database, then start it again.")
    return f"Training failed: {type(exc).__name__}: {exc} (the worker's log has the details)."
