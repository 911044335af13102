"""The job queue that carries a training run's id to a worker: huey, and only glue.

gunicorn kills a worker that takes over 30 s, so a retrain cannot run in a web
request. A web process puts the run's id on a huey queue (``enqueue``), and a
consumer process (``digits worker``, or the one ``digits serve`` starts) runs
it. The task is registered here by name, with no body of its own: the consumer
installs what it performs (``worker.execute``), so web code, which only
enqueues, never imports the worker. The queue is kept in SQLite in the
instance folder (``instance/huey.sqlite``) by default, in Redis when
``REDIS_URL`` is set. The huey instance lives on ``app.extensions``, one per
app, never in a module global.
"""

from pathlib import Path

import redis
from flask import current_app
from huey import RedisHuey, SqliteHuey

from ..security import create_private

TASK = "retrain"


class Queue:
    """One app's queue: the huey instance, its retrain task, and (in a consumer) the run in
    flight and the function that performs a run."""

    def __init__(self, app):
        name = app.config["HUEY_NAME"]
        if app.config["REDIS_URL"]:
            # Bounded waits: a silent Redis must not hang a start button or /healthz.
            pool = redis.ConnectionPool.from_url(app.config["REDIS_URL"],
                                                 socket_connect_timeout=5, socket_timeout=10)
            self.huey = RedisHuey(name, connection_pool=pool, results=False)
        else:
            create_private(Path(app.instance_path) / "huey.sqlite")     # 0600 from the start
            self.huey = SqliteHuey(name, filename=str(Path(app.instance_path) / "huey.sqlite"),
                                   results=False, timeout=30)
        self.running = None      # the run id this process is executing, if any
        self.perform = None      # set by the consumer: perform(run_id), in the app's context

        @self.huey.task(name=TASK)
        def retrain(run_id):
            if self.perform is None:
                raise RuntimeError("this process enqueues runs; it does not perform them")
            with app.app_context():
                self.running = run_id
                try:
                    self.perform(run_id)
                finally:
                    self.running = None

        self.retrain = retrain


def init_app(app):
    app.extensions["digits_queue"] = Queue(app)


def get_queue(app=None):
    return (app or current_app).extensions["digits_queue"]


def enqueue(run_id):
    """Put run ``run_id`` on the queue for a consumer."""
    get_queue().retrain(run_id)
