"""The training worker: consume the queue, and execute a run with its heartbeat.

``digits worker`` (and the child process ``digits serve`` starts, by module
name: ``python -m webapp.ops.cli worker``) runs ``run_consumer``, which
installs ``execute`` as what the queue's task performs. ``execute`` claims the
run's row, keeps its heartbeat beating in a thread of its own, has
``retraining`` compute it and records the outcome; ``digits retrain`` calls it
in-process. Only worker processes import this module.

A consumer also keeps a ``Presence``: every ``JOB_HEARTBEAT_SECONDS`` it writes its
row in ``training_workers`` (so /healthz can tell a queued run that no one will
take) and reaps runs whose heartbeat stopped (a worker killed mid-run, here or on
another host), so a dead run is marked failed without anyone loading a page.
``Supervisor`` is what ``digits serve`` runs beside gunicorn: it starts the
consumer process and starts another whenever it exits.
"""

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

import model
from model import mnist

from ..core.db import TrainingRun, TrainingWorker, db, utcnow
from . import retraining, runs
from .queue import get_queue

# A training worker beside the web workers on a 2-core host: one BLAS thread each. Two
# threads that compete with other busy processes ran an epoch 7-13x slower here.
WORKER_ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                      "MKL_NUM_THREADS": "1"}


class Stopped(Exception):
    """Raised inside a run to end it early: cancelled, or its row was taken from it."""


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

    def mark_lost(self):
        """The run's row was taken from it (reaped as failed): stop at the next check."""
        self.lost.set()

    def mark_cancelled(self):
        self.cancel.set()

    def stop(self):
        self.done.set()
        self.join(timeout=10)


def claim(run_id):
    """Queued → running, atomically; False when the run was cancelled or taken meanwhile."""
    now = utcnow()
    return runs.write(run_id, only_if="queued", status="running", started=now, heartbeat=now,
                      phase="loading MNIST")


def execute(run_id, data_dir=None, report=None):
    """Do run ``run_id`` (a worker calls this, and ``digits retrain`` in-process).

    ``data_dir`` overrides ``DATA_DIR`` for MNIST; ``report(record)`` is called after
    every epoch. Never raises for a failed run (its row says why); returns the run.
    """
    app = current_app._get_current_object()
    if not claim(run_id):
        app.logger.info("training run %d is no longer queued; skipping it", run_id)
        return runs.get(run_id)
    heartbeat = Heartbeat(db.engine, run_id, float(app.config["JOB_HEARTBEAT_SECONDS"]),
                          app.logger)
    heartbeat.start()
    try:
        version_id, results = retraining.retrain(run_id, heartbeat, data_dir, report)
        runs.finish(run_id, "succeeded", version_id=version_id, results=results, phase="done",
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
    return runs.get(run_id)


def finish_quietly(run_id, status, **values):
    """``runs.finish``, for a run already ending badly: if even that fails (the database is
    gone), the worker lives on and the stopped heartbeat gets the run marked failed.

    On a full disk a row cannot be rewritten any larger than the room left, and the
    weight pictures are most of a run's row: the second try leaves them out.
    """
    for attempt in (values, {**values, "units": []}):
        try:
            db.session.rollback()
            runs.finish(run_id, status, **attempt)
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


def run_consumer(app):
    """Consume the queue until SIGINT (finish the run first) or SIGTERM (stop now).

    One worker thread: one run at a time is all the host's cores can take.
    """
    queue = get_queue(app)
    queue.perform = execute
    # huey says what it runs; the app's logger (Flask's handler) says what the runs do.
    huey_log = logging.getLogger("huey")
    if not huey_log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s in %(name)s: "
                                               "%(message)s"))
        huey_log.addHandler(handler)
        huey_log.setLevel(logging.INFO)
    app.logger.setLevel(logging.INFO)
    presence = Presence(app)
    presence.beat()                   # reaps what a dead worker left before taking new work
    presence.start()
    consumer = queue.huey.create_consumer(workers=1, worker_type="thread", periodic=False)
    app.logger.info("training worker %d consuming queue %r", os.getpid(), queue.huey.name)
    try:
        consumer.run()
    finally:
        presence.stop()
    if queue.running is not None:
        # The worker thread dies with the process: say so now rather than after a timeout.
        with app.app_context():
            runs.finish(queue.running, "failed", phase="failed",
                        error="The training worker was stopped during the run.")


class Presence(threading.Thread):
    """In a consumer: say every ``JOB_HEARTBEAT_SECONDS`` that this worker is alive, and reap
    runs whose heartbeat has stopped (``runs.reap_stale``). Its row goes when it stops."""

    def __init__(self, app):
        super().__init__(name="training-worker-presence", daemon=True)
        self.app = app
        self.name_in_table = f"{socket.gethostname()}:{os.getpid()}"[:128]
        self.interval = float(app.config["JOB_HEARTBEAT_SECONDS"])
        self.done = threading.Event()

    def beat(self):
        stale = timedelta(seconds=float(self.app.config["JOB_STALE_SECONDS"]))
        with self.app.app_context():
            now = utcnow()
            row = db.session.get(TrainingWorker, self.name_in_table)
            if row is None:
                db.session.add(TrainingWorker(name=self.name_in_table, started=now, seen=now))
            else:
                row.seen = now
            # Rows of workers long dead (kill -9 leaves its row behind).
            db.session.execute(delete(TrainingWorker).where(TrainingWorker.seen < now - stale * 10))
            db.session.commit()
            for run_id in runs.reap_stale():
                self.app.logger.warning("training run %d was left running by a dead worker",
                                        run_id)
            db.session.remove()

    def run(self):
        while not self.done.wait(self.interval):
            try:
                self.beat()
            except SQLAlchemyError as exc:     # the next beat tries again
                self.app.logger.warning("training worker presence failed: %s", exc)

    def stop(self):
        self.done.set()
        if self.is_alive():
            self.join(timeout=10)
        try:
            with self.app.app_context():
                db.session.execute(delete(TrainingWorker)
                                   .where(TrainingWorker.name == self.name_in_table))
                db.session.commit()
                db.session.remove()
        except SQLAlchemyError as exc:
            self.app.logger.warning("could not remove this worker's row: %s", exc)


def start_consumer_process(env=None):
    """``digits worker`` as a child process with ``WORKER_ENVIRONMENT`` (as ``digits serve``
    starts it); its own settings come from the same environment and instance folder."""
    env = {**WORKER_ENVIRONMENT, **(os.environ if env is None else env)}
    # Its own session: a Ctrl-C meant for the server must not start a graceful wait
    # for the run to end; the server stops it (SIGTERM) when it exits.
    return subprocess.Popen([sys.executable, "-m", "webapp.ops.cli", "worker"], env=env,
                            start_new_session=True)


def stop_consumer_process(process, timeout=10):
    """Stop a consumer started by ``start_consumer_process``; a run in flight is marked failed."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Supervisor(threading.Thread):
    """``digits serve``'s training worker: a consumer process started now and started again
    whenever it exits (killed, crashed, out of memory), after a pause that doubles, up to a
    minute, while it keeps dying within a minute of its start. Logs each restart."""

    def __init__(self, logger, env=None, check_seconds=0.5):
        super().__init__(name="training-worker-supervisor", daemon=True)
        self.logger, self.env, self.check_seconds = logger, env, check_seconds
        self.stopping = threading.Event()
        self.process = start_consumer_process(env)
        self.started_at = time.monotonic()
        self.restarts = 0

    def run(self):
        pause = 1.0
        while not self.stopping.wait(self.check_seconds):
            # gunicorn's arbiter reaps every child (waitpid(-1)): then poll() says 0, not
            # the real status, but it still says the process is gone.
            code = self.process.poll()
            if code is None:
                continue
            lived = time.monotonic() - self.started_at
            pause = 1.0 if lived > 60 else min(pause * 2, 60.0)
            self.logger.warning("training worker %d exited (status %s) after %.0f s; starting "
                                "another in %.0f s", self.process.pid, code, lived, pause)
            if self.stopping.wait(pause):
                break
            self.process = start_consumer_process(self.env)
            self.started_at = time.monotonic()
            self.restarts += 1
            self.logger.info("training worker %d started", self.process.pid)

    def stop(self, timeout=10):
        """Stop supervising, then stop the consumer (a run in flight is marked failed)."""
        self.stopping.set()
        if self.is_alive():
            self.join(timeout)
        stop_consumer_process(self.process, timeout)
