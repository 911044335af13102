"""Operations: ``GET /healthz`` for load balancers and monitors, and one log line per request.

``/healthz`` asks each part the app needs whether it answers: the database (a
trivial query), the model this process serves (its version), and the job
queue (huey's storage counts its pending tasks; Redis is pinged when
``REDIS_URL`` is set). It answers 200 with every part's state as JSON, or 503
naming the parts that are down, so a balancer takes a broken host out.

The request log is one line per request on standard output (gunicorn's own
log and errors stay on standard error), with the method, path, status and
the time the app took in milliseconds. Static files and healthy health checks
are left out: they would drown the lines that matter. ``LOG_REQUESTS=False``
(``DIGITS_LOG_REQUESTS=false``) turns it off.
"""

import logging
import sys
import time

from flask import Blueprint, current_app, g, request
from huey.storage import RedisStorage
from sqlalchemy import text

from .db import db
from .jobs import get_jobs
from .served import get_model

bp = Blueprint("health", __name__)

QUIET_ENDPOINTS = {"static", "draw.htmx", "health.healthz"}


def check_database():
    # A connection of its own, given back at once: on SQLite every transaction begins
    # IMMEDIATE, and one left open in the request's session would hold the write lock.
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return {}


def check_model():
    return {"version": get_model().version}


def check_queue():
    huey = get_jobs().huey
    on_redis = isinstance(huey.storage, RedisStorage)
    if on_redis:
        huey.storage.conn.ping()
    return {"backend": "redis" if on_redis else "sqlite", "pending": huey.pending_count()}


CHECKS = {"database": check_database, "model": check_model, "queue": check_queue}


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


def start_timer():
    g.request_started = time.perf_counter()


def log_request(response):
    started = g.pop("request_started", None)
    if started is None:
        return response
    if request.endpoint in QUIET_ENDPOINTS and response.status_code < 400:
        return response
    current_app.extensions["digits_request_log"].info(
        "%s %s %d %.1f ms", request.method, request.path, response.status_code,
        (time.perf_counter() - started) * 1000)
    return response


class StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is now (logging's own last-resort handler does the
    same for standard error), so a test's captured output never keeps a closed stream."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _value):
        pass


def request_logger():
    """``digits.requests``: INFO lines to standard output, whatever the root logger does."""
    logger = logging.getLogger("digits.requests")
    if not logger.handlers:
        handler = StdoutHandler()
        handler.setFormatter(logging.Formatter("[%(asctime)s] %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    return logger


def init_app(app):
    """The health check's blueprint, and the request log unless ``LOG_REQUESTS`` is false."""
    app.register_blueprint(bp)
    app.config.setdefault("LOG_REQUESTS", True)
    if app.config["LOG_REQUESTS"]:
        app.extensions["digits_request_log"] = request_logger()
        app.before_request(start_timer)
        app.after_request(log_request)
