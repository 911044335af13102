"""``GET /healthz`` for load balancers and monitors: does every part the app needs answer?

``/healthz`` asks each part the app needs whether it answers: the database (a
trivial query), the model this process serves (its version), the job
queue (huey's storage counts its pending tasks; Redis is pinged when
``REDIS_URL`` is set), and the sample store (how full it is). It answers 200 with every part's state as JSON, or 503
naming the parts that are down, so a balancer takes a broken host out.
"""

import time

from flask import Blueprint, current_app
from huey.storage import RedisStorage
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ..admin.auth import logged_in
from ..core import samples
from ..core.db import db
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
    try:
        detailed = logged_in()
    except Exception:                 # the database that says who is logged in may be down
        detailed = False
    finally:                          # on SQLite even a read holds the write lock until it ends
        db.session.rollback()
    return usage if detailed else {"full": usage["full"]}


CHECKS = {"database": check_database, "model": check_model, "queue": check_queue,
          "storage": check_storage}


def problem(exc):
    """A short, public description of why a check failed (the full error goes to the log)."""
    cause = getattr(exc, "orig", None) or exc
    first_line = (str(cause).strip().splitlines() or [""])[0][:200]
    return f"{type(cause).__name__}: {first_line}" if first_line else type(cause).__name__


@bp.get("/healthz")
def healthz():
    report, down = {}, []
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            report[name] = {"ok": True, **check()}
        except Exception as exc:          # a check that fails is the answer, not an error
            current_app.logger.error("health check %s failed: %s", name, exc)
            report[name] = {"ok": False, "error": problem(exc)}
            down.append(name)
        report[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    body = {"status": "down" if down else "ok", "down": down, **report}
    return body, 503 if down else 200, {"Cache-Control": "no-store"}


def init_app(app):
    app.register_blueprint(bp)
