"""What one client may take: samples stored, the bytes they fill, and readings made.

Every sample stored on a request (the page's corrections, ``POST
/api/v1/samples``, a class's corrections, any later route: they all go through
``corrections.add``; the operator's own are not counted) spends from two budgets that every process and host shares (``core.budgets``):
``spend_sample`` one from ``SAMPLES_RATE_LIMIT``, before the image is read, and
``spend_storage`` its stored bytes from ``CLIENT_STORAGE_KB`` a day. Over
budget is a 429 with ``Retry-After`` and a message that says the limit and the
wait. ``@budgeted_reading`` gives each client ``PREDICT_RATE_LIMIT`` readings a
second (a burst of ``PREDICT_BURST``) from a token bucket in this process: a
reading is the hot path, so it is counted in memory, and a client whose
requests land on both of two workers may get up to twice the rate.
``RATELIMIT_ENABLED = False`` turns all three off.
"""

import functools
import math
import re
import threading
import time
from collections import OrderedDict

from flask import current_app, has_request_context, request
from werkzeug.exceptions import TooManyRequests

from ..core import budgets, samples

MAX_TRACKED = 10_000       # clients a worker keeps reading buckets for (the least recent go)


def counting():
    return has_request_context() and current_app.config["RATELIMIT_ENABLED"]


def client_key(key=None):
    """Whom a budget belongs to: ``key`` if given (a class's student), else the address;
    as a keyed hash, never the address or the names themselves."""
    return samples.client_key(key or request.remote_addr) or "unknown"


def sample_windows():
    """``SAMPLES_RATE_LIMIT`` parsed, once per distinct text."""
    return _windows(current_app.config["SAMPLES_RATE_LIMIT"])


@functools.lru_cache(maxsize=8)
def _windows(text):
    return budgets.parse_windows(text)


def spend_sample(key=None):
    """One sample from this request's client (or ``key``); a 429 when its budget is spent."""
    if not counting():
        return
    try:
        budgets.spend("samples", client_key(key), 1, sample_windows())
    except budgets.OverBudget as over:
        per = re.sub(r"^\d+\s*(?:per|/)\s*", "", over.window.text)
        raise TooManyRequests(f"{over.window.amount} samples per {per} per client; try again "
                              f"in {over.retry_after} s.", retry_after=over.retry_after) from None


def spend_storage(size, key=None):
    """``size`` bytes of stored sample from this request's client's (or ``key``'s) day; a 429
    when they are used up."""
    if not counting():
        return
    limit_kb = current_app.config["CLIENT_STORAGE_KB"]
    window = budgets.Window(limit_kb * 1024, 86400, f"{limit_kb} KiB per day")
    try:
        budgets.spend("storage", client_key(key), size, (window,))
    except budgets.OverBudget as over:
        raise TooManyRequests(f"Samples from your address may fill {limit_kb} KiB in any 24 "
                              f"hours, and that is used up; try again in "
                              f"{duration(over.retry_after)}.",
                              retry_after=over.retry_after) from None


def duration(seconds):
    """3725 → "1 h 3 min"; 42 → "42 s"."""
    if seconds < 120:
        return f"{seconds} s"
    minutes = math.ceil(seconds / 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


class ReadingBuckets:
    """A token bucket per client: ``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self):
        self.lock = threading.Lock()
        self.buckets = OrderedDict()        # client → (tokens, when they were counted)

    def take(self, client, rate, burst, now=None):
        """Take a token; None when there was one, else the seconds until there is."""
        now = time.monotonic() if now is None else now
        with self.lock:
            tokens, then = self.buckets.pop(client, (burst, now))
            tokens = min(burst, tokens + (now - then) * rate)
            if tokens >= 1:
                self.buckets[client] = (tokens - 1, now)
                waited = None
            else:
                self.buckets[client] = (tokens, now)
                waited = (1 - tokens) / rate
            if len(self.buckets) > MAX_TRACKED:
                self.buckets.popitem(last=False)
        return waited


def budgeted_reading(view):
    """Decorate a view that reads an image (outermost, so a refusal waits for no one)."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        rate = current_app.config["PREDICT_RATE_LIMIT"]
        if rate > 0 and current_app.config["RATELIMIT_ENABLED"]:
            wait = current_app.extensions["digits_reading_buckets"].take(
                request.remote_addr or "unknown", rate, current_app.config["PREDICT_BURST"])
            if wait is not None:
                raise TooManyRequests(f"{rate:g} readings a second per client; try again in "
                                      f"{math.ceil(wait)} s.", retry_after=math.ceil(wait))
        return view(*args, **kwargs)
    return wrapper


def init_app(app):
    app.extensions["digits_reading_buckets"] = ReadingBuckets()
    budgets.init_app(app)
