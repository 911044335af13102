"""The failed-login throttle: guesses slow down, the right password is never locked out.

Checking a password costs scrypt's ~32 MiB and tens of milliseconds, so every
attempt is counted *before* the hash is computed, in the database (shared by
every worker on every host; Flask-Limiter's memory is per process). The count
and its check are one transaction (``BEGIN IMMEDIATE`` on SQLite, ``FOR UPDATE``
elsewhere): 40 guesses sent at once get at most ``LOGIN_FAILURE_LIMIT`` checks.

- **Per address** (an IPv6 client by its /64): the first ``LOGIN_FAILURE_LIMIT``
  failures are free; then each further guess waits ``LOGIN_DELAY_SECONDS``, doubling
  with every failure up to ``LOGIN_DELAY_MAX_SECONDS``. A guess that comes early is
  answered 429 with ``Retry-After``, unhashed and uncounted. The count is forgotten
  after ``LOGIN_FAILURE_WINDOW`` seconds without a guess, and at a success.
- **A global budget**: ``LOGIN_GLOBAL_LIMIT`` counted guesses per window from every
  address together, so many addresses cannot guess in parallel either.
- **Trusted browsers**: a login gives the browser a signed cookie (``BROWSER_COOKIE``,
  90 days). A login that shows one is counted for that browser alone, never for its
  address or the budget: whoever guesses from the admin's address (a school's one
  public address), or from the whole Internet, does not slow the admin's own browser.
  That is the answer to "a throttle locks the admin out": a delay, not a ban, and
  none at all for the browser the admin already uses. A new browser on an address
  under attack waits like the attacker, at most ``LOGIN_DELAY_MAX_SECONDS`` a guess.

Each time a client's wait starts or grows, and when the budget runs out, a
warning is logged.
"""

import ipaddress
import math
import secrets
from datetime import timedelta

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from ..core.db import LoginFailure, as_utc, db, utcnow

GLOBAL = "*"                          # the budget's row in login_failures
BROWSER_COOKIE = "digits_admin_browser"
BROWSER_DAYS = 90


def setting(name):
    return float(current_app.config[name])


# -- who is guessing ------------------------------------------------------------------------

def address_key():
    """The client's address; an IPv6 one by its /64 (one host's share of addresses)."""
    address = request.remote_addr or "unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if parsed.version == 4:
        return str(parsed)
    if parsed.ipv4_mapped:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.ip_network(f"{parsed}/64", strict=False))


def serializer():
    return URLSafeTimedSerializer(current_app.secret_key, salt="digits-admin-browser")


def trusted_browser():
    """This browser's key when it shows a valid trusted-browser cookie, else None."""
    value = request.cookies.get(BROWSER_COOKIE)
    if not value:
        return None
    try:
        nonce = serializer().loads(value, max_age=BROWSER_DAYS * 86400)
    except BadSignature:
        return None
    return f"browser:{str(nonce)[:48]}"


def trust_browser(response):
    """After a login: the cookie that makes this browser's next logins its own business."""
    value = serializer().dumps(secrets.token_urlsafe(16))
    response.set_cookie(BROWSER_COOKIE, value, max_age=BROWSER_DAYS * 86400, path="/admin",
                        secure=current_app.config["SESSION_COOKIE_SECURE"], httponly=True,
                        samesite="Strict")
    return response


def keys():
    """What this attempt counts against: its trusted browser alone, or its address and the
    global budget."""
    browser = trusted_browser()
    return [browser] if browser else [address_key(), GLOBAL]


# -- counting ---------------------------------------------------------------------------------

def delay(failures):
    """Seconds a client with ``failures`` counted must wait after its last guess."""
    free = int(current_app.config["LOGIN_FAILURE_LIMIT"])
    if failures < free:
        return 0.0
    return min(setting("LOGIN_DELAY_SECONDS") * 2 ** (failures - free),
               setting("LOGIN_DELAY_MAX_SECONDS"))


def wait_for(key, row, now, window):
    """Seconds before ``key`` may try again (0: now), from its row as read."""
    if row is None:
        return 0.0
    if key == GLOBAL:
        if row.failures < int(current_app.config["LOGIN_GLOBAL_LIMIT"]):
            return 0.0
        return (as_utc(row.first) + window - now).total_seconds()
    return (as_utc(row.last) + timedelta(seconds=delay(row.failures)) - now).total_seconds()


def forgotten(key, row, now, window):
    """A client quiet for a window starts afresh; the budget starts afresh each window."""
    since = as_utc(row.first) if key == GLOBAL else as_utc(row.last)
    return since + window <= now


def count_attempt(counted):
    """Count one attempt against each key in ``counted`` before the password is hashed.

    Returns None when it may go on, else ``(seconds, key)``: how long until it may, and
    which count holds it back. The rows are read and written in one transaction.
    """
    window = timedelta(seconds=setting("LOGIN_FAILURE_WINDOW"))
    for _ in range(3):
        now = utcnow()
        try:
            rows = {key: db.session.get(LoginFailure, key, with_for_update=True,
                                        populate_existing=True) for key in sorted(counted)}
            for key, row in rows.items():
                if row is not None and forgotten(key, row, now, window):
                    row.failures, row.first = 0, now
            waits = sorted(((wait_for(key, row, now, window), key) for key, row in rows.items()),
                           reverse=True)
            if waits and waits[0][0] > 0:
                db.session.rollback()
                return math.ceil(waits[0][0]), waits[0][1]
            counts = {}
            for key, row in rows.items():
                if row is None:
                    row = LoginFailure(client=key, failures=0, first=now, last=now)
                    db.session.add(row)
                row.failures += 1
                row.last = now
                counts[key] = row.failures
            db.session.commit()
            log_new_waits(counts)
            return None
        except IntegrityError:      # another process inserted one of these rows first
            db.session.rollback()
    raise RuntimeError("could not count a login attempt")


def log_new_waits(counts):
    """A warning each time a client's wait starts or grows, and when the budget runs out."""
    for key, failures in counts.items():
        if key == GLOBAL:
            if failures == int(current_app.config["LOGIN_GLOBAL_LIMIT"]):
                current_app.logger.warning(
                    "admin login: %d guesses from all addresses within %.0f s: until the "
                    "window ends, only trusted browsers may try", failures,
                    setting("LOGIN_FAILURE_WINDOW"))
        elif delay(failures) > 0:
            current_app.logger.warning(
                "admin login: %d guesses from %s; its next guess waits %.0f s", failures, key,
                delay(failures))


def succeeded(counted):
    """A right password: its client starts afresh, and it was no guess against the budget."""
    clients = [key for key in counted if key != GLOBAL]
    db.session.execute(delete(LoginFailure).where(LoginFailure.client.in_(clients)))
    if GLOBAL in counted:
        db.session.execute(update(LoginFailure).where(LoginFailure.client == GLOBAL,
                                                      LoginFailure.failures > 0)
                           .values(failures=LoginFailure.failures - 1))
    db.session.commit()
