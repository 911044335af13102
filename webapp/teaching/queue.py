"""The job queue that runs retraining outside the web processes: huey, and only glue.

gunicorn kills a worker that takes over 30 s, so a retrain cannot run in a web
request. A web process puts the run's id on a huey queue (``enqueue_retrain``)
and a consumer process (``digits worker``, or the one ``digits serve`` starts)
calls ``runs.execute`` with it, in the app's context. The queue is kept in
SQLite in the instance folder (``instance/huey.sqlite``) by default, in Redis
when ``REDIS_URL`` is set. The huey instance and its task live on
``app.extensions``, one per app, never in a module global.

huey forgets a task whose consumer is killed mid-run; the run's own row,
with its heartbeat, is what shows it failed (``runs.reap_stale``).
"""

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import redis
from flask import current_app
from huey import RedisHuey, SqliteHuey

# A training worker beside the web workers on a 2-core host: one BLAS thread each. Two
# threads that compete with other busy processes ran an epoch 7-13x slower here.
WORKER_ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                      "MKL_NUM_THREADS": "1"}


class Jobs:
    """One app's queue: the huey instance, its retrain task and the run in flight."""

    def __init__(self, app):
        name = app.config["HUEY_NAME"]
        if app.config.get("REDIS_URL"):
            # Bounded waits: a silent Redis must not hang a start button or /healthz.
            pool = redis.ConnectionPool.from_url(app.config["REDIS_URL"],
                                                 socket_connect_timeout=5, socket_timeout=10)
            self.huey = RedisHuey(name, connection_pool=pool, results=False)
        else:
            self.huey = SqliteHuey(name, filename=str(Path(app.instance_path) / "huey.sqlite"),
                                   results=False, timeout=30)
        self.running = None      # the run id this process is executing, if any

        @self.huey.task(name="retrain")
        def retrain(run_id):
            from . import runs

            with app.app_context():
                self.running = run_id
                try:
                    runs.execute(run_id)
                finally:
                    self.running = None

        self.retrain = retrain


def init_app(app):
    app.config.setdefault("HUEY_NAME", "digits")
    app.config.setdefault("JOB_HEARTBEAT_SECONDS", 2)
    app.config.setdefault("JOB_STALE_SECONDS", 20)
    app.config.setdefault("DATA_DIR", None)       # None: $DIGITS_DATA_DIR, else the cache
    app.extensions["digits_jobs"] = Jobs(app)


def get_jobs():
    return current_app.extensions["digits_jobs"]


def enqueue_retrain(run_id):
    """Put run ``run_id`` on the queue for a consumer."""
    get_jobs().retrain(run_id)


def run_consumer(app):
    """Consume the queue until SIGINT (finish the run first) or SIGTERM (stop now).

    One worker thread: one run at a time is all the host's cores can take.
    """
    from . import runs

    jobs = app.extensions["digits_jobs"]
    # huey says what it runs; the app's logger (Flask's handler) says what the runs do.
    huey_log = logging.getLogger("huey")
    if not huey_log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s in %(name)s: "
                                               "%(message)s"))
        huey_log.addHandler(handler)
        huey_log.setLevel(logging.INFO)
    app.logger.setLevel(logging.INFO)
    with app.app_context():
        for run_id in runs.reap_stale():
            app.logger.warning("training run %d was left running by a dead worker", run_id)
    consumer = jobs.huey.create_consumer(workers=1, worker_type="thread", periodic=False)
    app.logger.info("training worker %d consuming queue %r", os.getpid(), jobs.huey.name)
    consumer.run()
    if jobs.running is not None:
        # The worker thread dies with the process: say so now rather than after a timeout.
        with app.app_context():
            runs.finish(jobs.running, "failed", phase="failed",
                        error="The training worker was stopped during the run.")


def start_consumer_process(env=None):
    """``digits worker`` as a child process with ``WORKER_ENVIRONMENT`` (as ``digits serve``
    starts it); its own settings come from the same environment and instance folder."""
    env = {**WORKER_ENVIRONMENT, **(os.environ if env is None else env)}
    # Its own session: a Ctrl-C meant for the server must not start a graceful wait
    # for the run to end; the server stops it (SIGTERM) when it exits.
    return subprocess.Popen([sys.executable, "-c", "import sys; from webapp.cli import main; "
                             "main(sys.argv[1:])", "worker"], env=env, start_new_session=True)


def stop_consumer_process(process, timeout=10):
    """Stop a consumer started by ``start_consumer_process``; a run in flight is marked failed."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
