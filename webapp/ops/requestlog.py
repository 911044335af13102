"""The request log: one line per request on standard output, with the time the app took.

gunicorn's own log and errors stay on standard error; here each request gets
its method, path, status and milliseconds. Static files and healthy health
checks are left out: they would drown the lines that matter. The method and
path are the client's words: their control characters are escaped
(``security.printable``), so a ``%0A`` in a path cannot forge a line.
``LOG_REQUESTS=False`` (``DIGITS_LOG_REQUESTS=false``) turns it off.
"""

import logging
import sys
import time

from flask import current_app, g, request

from ..reading.fastpath import log_line

QUIET_ENDPOINTS = {"static", "draw.htmx", "health.healthz"}


def start_timer():
    g.request_started = time.perf_counter()


def log_request(response):
    started = g.pop("request_started", None)
    if started is None:
        return response
    if request.endpoint in QUIET_ENDPOINTS and response.status_code < 400:
        return response
    log_line(current_app.extensions["digits_request_log"], request.method, request.path,
             response.status_code, started)
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
    """The request log, unless ``LOG_REQUESTS`` is false."""
    if app.config["LOG_REQUESTS"]:
        app.extensions["digits_request_log"] = request_logger()
        app.before_request(start_timer)
        app.after_request(log_request)
