"""``GET /healthz`` for load balancers and monitors: does every part the app needs answer?

``/healthz`` asks each part the app needs whether it answers: the database (a
trivial query), the model this process serves (its version), the job
queue (huey's storage counts its pending tasks; Redis is pinged when
``REDIS_URL`` is set), and the sample store (how full it is). It answers 200
with every part's state as JSON, or 503 naming the parts that are down, so a
balancer takes a broken host out.

It also says whether a training worker is alive (each writes a row every few
seconds): a queued run with none is "no training worker", and the status
"degraded", still 200, since pages and readings work.

Anyone may ask, so an anonymous answer names what is down but not why: a
driver's error names hosts, ports and paths. The logged-in admin gets the first
line of each error too; the log always has it.
"""

import time
from datetime import timedelta

from flask import Blueprint, current_app
from huey.storage import RedisStorage
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from ..admin.auth import logged_in
from ..core import samples
from ..core.db import TrainingRun, TrainingWorker, db, utcnow
from ..core.served import get_model
from ..teaching.queue import get_queue

bp = Blueprint("health", __name__)


def check_database():
    # A connection of its own, given back at once: on SQLite every transaction begins
    # IMMEDIATE, and one left open in the request's session would hold the write lock.
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return {}


def check_model():
    return {"version": get_model().version}


def check_queue():
    huey = get_queue().huey
    on_redis = isinstance(huey.storage, RedisStorage)
    if on_redis:
        huey.storage.conn.ping()
    return {"backend": "redis" if on_redis else "sqlite", "pending": huey.pending_count()}


class NoTrainingWorker(Exception):
    """A run waits and no training worker is alive to take it: say so to everyone."""


def check_training():
    """Training workers seen within ``JOB_STALE_SECONDS`` (each writes its row every
    ``JOB_HEARTBEAT_SECONDS``), and whether a queued run has one to take it."""
    stale = float(current_app.config["JOB_STALE_SECONDS"])
    cutoff = utcnow() - timedelta(seconds=stale)
    with db.engine.connect() as connection:          # as check_database: no lock kept
        alive = connection.scalar(select(func.count()).select_from(TrainingWorker)
                                  .where(TrainingWorker.seen >= cutoff))
        queued = connection.scalar(select(TrainingRun.id).where(TrainingRun.status == "queued")
                                   .order_by(TrainingRun.id).limit(1))
    if queued is not None and not alive:
        raise NoTrainingWorker(f"no training worker: run {queued} is queued and no worker "
                               f"has been seen for {stale:.0f} s (digits serve starts one; "
                               f"or run digits worker)")
    return {"workers": alive, "queued": queued is not None}


def check_storage():
    """How full the sample store is (``SAMPLES_STORAGE_MB``). A full store refuses new
    samples (507) but reads on, so it is reported, never "down". The figures are the
    admin's; anyone else learns only whether it is full. It is read from the database,
    so while that is down it is unknown, not down too."""
    try:
        usage = samples.usage()
    except DBAPIError:
        db.session.rollback()
        return {"ok": None, "error": "unknown while the database is down"}
    return usage if admin_asks() else {"full": usage["full"]}


CHECKS = {"database": check_database, "model": check_model, "queue": check_queue,
          "training": check_training, "storage": check_storage}
# What the web needs to answer: any of these down is a 503, and a balancer takes the host out.
# Training alone down leaves readings and pages working: "degraded", still 200, so monitors
# that read the status see it while the balancer keeps serving (docs/operating.md).
SERVING = ("database", "model", "queue")


def problem(exc):
    """A short description of why a check failed, for the admin (the full error is logged)."""
    cause = getattr(exc, "orig", None) or exc
    first_line = (str(cause).strip().splitlines() or [""])[0][:200]
    return f"{type(cause).__name__}: {first_line}" if first_line else type(cause).__name__


def admin_asks():
    """True for the logged-in admin; False for anyone else, and whenever that cannot be told
    (the database that says who is logged in may be what is down)."""
    try:
        return logged_in()
    except Exception:
        return False
    finally:      # on SQLite even a read holds the write lock until its transaction ends
        db.session.rollback()


@bp.get("/healthz")
def healthz():
    report, down = {}, []
    detailed = admin_asks()
    for name, check in CHECKS.items():
        if name == "training" and "database" in down:     # it is read from the database
            report[name] = {"ok": None, "error": "unknown while the database is down"}
            continue
        started = time.perf_counter()
        try:
            report[name] = {"ok": True, **check()}
        except Exception as exc:          # a check that fails is the answer, not an error
            current_app.logger.error("health check %s failed: %s", name, exc)
            public = str(exc) if isinstance(exc, NoTrainingWorker) else \
                "not answering (the admin sees why, and the log says)"
            report[name] = {"ok": False, "error": problem(exc) if detailed else public}
            down.append(name)
        report[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    serving = [name for name in down if name in SERVING]
    status = "down" if serving else "degraded" if down else "ok"
    body = {"status": status, "down": down, **report}
    return body, 503 if serving else 200, {"Cache-Control": "no-store"}


def init_app(app):
    app.register_blueprint(bp)
