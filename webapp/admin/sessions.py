"""Admin sessions kept on the server, so that logging out ends them for good.

Flask's session is a signed cookie: whoever holds a copy holds the session, and
deleting it in one browser ends nothing. So a login makes a row here
(``core.db.AdminSession``) and puts only a random token in the cookie; every
admin request looks the row up. The row is gone after a logout, after a new
password (every row), once the session has been idle for
``ADMIN_SESSION_IDLE_SECONDS`` and once it is ``ADMIN_SESSION_MAX_SECONDS`` old,
whichever comes first. A cookie whose row is gone is emptied before CSRF is
checked (``forget_ended``), so its CSRF token fails too. ``last_seen`` is
written at most every ``TOUCH_SECONDS``: a run panel polling every second costs
one write a minute, and the idle time is kept to within that minute.
"""

import hashlib
import secrets
from datetime import timedelta

from flask import current_app, g, request, session
from sqlalchemy import delete, or_

from ..core.db import AdminSession, as_utc, db, utcnow

KEY = "admin_session"            # the session cookie's field holding the token
TOUCH_SECONDS = 60
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def limits():
    """(idle, absolute) as timedeltas, from the settings."""
    return (timedelta(seconds=float(current_app.config["ADMIN_SESSION_IDLE_SECONDS"])),
            timedelta(seconds=float(current_app.config["ADMIN_SESSION_MAX_SECONDS"])))


def begin(password, client):
    """Start a session for the admin who just gave ``password`` (its fingerprint): the row, and
    its token in the (freshly cleared) cookie. Sessions past their limits are swept now."""
    idle, absolute = limits()
    now = utcnow()
    db.session.execute(delete(AdminSession).where(or_(AdminSession.last_seen < now - idle,
                                                      AdminSession.created < now - absolute)))
    token = secrets.token_urlsafe(32)
    db.session.add(AdminSession(id=digest(token), created=now, last_seen=now,
                                password=password, client=client))
    db.session.commit()
    session.clear()                  # nothing from before the login survives it
    session[KEY] = token


def current(password):
    """True when this request's cookie names a live session opened with ``password`` (the
    current password's fingerprint); refreshes its ``last_seen``. Asked once per request."""
    token = session.get(KEY)
    if not token or not password:
        return False
    cached = g.get("admin_session_checked")
    if cached is not None:
        return cached
    row = db.session.get(AdminSession, digest(token), populate_existing=True)
    live = row is not None and row.password == password and not expired(row)
    if live and utcnow() - as_utc(row.last_seen) > timedelta(seconds=TOUCH_SECONDS):
        row.last_seen = utcnow()
    elif row is not None and not live:
        db.session.delete(row)
    db.session.commit()              # under SQLite's BEGIN IMMEDIATE even a read holds the lock
    g.admin_session_checked = live
    return live


def expired(row):
    idle, absolute = limits()
    now = utcnow()
    return now - as_utc(row.last_seen) > idle or now - as_utc(row.created) > absolute


def end():
    """Log this cookie's session out (its row) and empty the cookie."""
    token = session.get(KEY)
    if token:
        db.session.execute(delete(AdminSession).where(AdminSession.id == digest(token)))
        db.session.commit()
    session.clear()
    g.admin_session_checked = False


def end_all():
    """Log every admin session out, on every host (a new password)."""
    db.session.execute(delete(AdminSession))


def forget_ended(password_fingerprint):
    """``before_request``, ahead of CSRF: a cookie naming a session that has ended is emptied,
    so a copy kept from before a logout passes neither the login check nor CSRF. Asked on the
    admin's pages and on every state change; the draw page's readings skip the lookup."""
    if current_app.config["SESSION_COOKIE_NAME"] not in request.cookies:
        return                       # no cookie: not even a look (it would add Vary: Cookie)
    if request.method in SAFE_METHODS and not request.path.startswith("/admin"):
        return
    if KEY not in session:
        return
    if not current(password_fingerprint()):
        current_app.logger.info("admin session ended or unknown: cookie emptied")
        session.clear()
