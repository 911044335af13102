"""A training run's row: start one at a time, cancel, read, write, and reap the dead.

The dashboard and ``digits retrain`` both call these functions; the job queue
(``queue``) only carries a run's id to ``worker.execute`` in a worker process,
and what a run computes is in ``retraining``. A run's row (``core.db.TrainingRun``)
is the one record of it: the worker writes its progress, a heartbeat, its
results and its error there, and every web process reads it. ``slot`` is 1
while a run is queued or running and is unique, so the database itself refuses
a second active run, whichever process asks.

A worker killed outright (kill -9, power loss) cannot say so: its run keeps
``running`` with a heartbeat that stops moving, and ``reap_stale`` marks it
failed once the heartbeat is older than ``JOB_STALE_SECONDS``. Nothing is
half-written: a model version is one row inserted at the very end, in the one
transaction that also records the run's success.
"""

from dataclasses import asdict
from datetime import timedelta

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..core.db import TrainingRun, as_utc, db, utcnow
from . import queue

ACTIVE = ("queued", "running")


class RunRefused(ValueError):
    """A refused start or cancel; ``str()`` says what to do instead."""


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


def start(settings, enqueue=True, classroom_id=None):
    """Queue a run with ``settings`` (``enqueue=False``: the caller executes it itself);
    ``RunRefused`` when one is already queued or running. With ``classroom_id`` it is that
    class's "Teach it our handwriting" (``settings`` a ``TeachSettings``)."""
    reap_stale()
    run = TrainingRun(status="queued", slot=1, settings=asdict(settings),
                      epochs=settings.epochs, phase="waiting for a worker",
                      classroom_id=classroom_id)
    db.session.add(run)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        active = db.session.execute(select(TrainingRun.id, TrainingRun.status)
                                    .where(TrainingRun.slot == 1)).first()
        db.session.commit()
        if active:
            message = gettext("Training run #%(id)s is already %(status)s: wait for it to "
                              "finish or cancel it.", id=active.id, status=active.status)
        else:
            message = gettext("Another training run has just started: wait for it to finish "
                              "or cancel it.")
        raise RunRefused(message) from None
    run_id = run.id
    db.session.commit()
    if enqueue:
        try:
            queue.enqueue(run_id)
        except Exception as exc:
            current_app.logger.exception("training run %d: could not queue it", run_id)
            finish(run_id, "failed", error=f"The job queue refused the run ({exc}).")
            raise RunRefused(gettext("The job queue is not available (%(error)s); is Redis "
                                     "running?", error=exc)) from None
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
        raise RunRefused(gettext("There is no training run #%(id)s.", id=run_id))
    if not done.rowcount:
        raise RunRefused(gettext("Training run #%(id)s is over (%(status)s); there is nothing "
                                 "to cancel.", id=run_id, status=run.status))
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
