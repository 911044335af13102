"""Who may use the admin: the password, the login and logout views.

The password is stored as a Werkzeug hash, either in the ``settings`` table
(``digits admin set-password``, in ``ops.commands``) or in ``$DIGITS_ADMIN_PASSWORD_HASH``
(config ``ADMIN_PASSWORD_HASH``), which wins. A login clears the session and
starts a server-side session (``sessions``) marked with a fingerprint of that
hash: logging out ends it everywhere, and a new password ends them all.

Guesses are slowed by ``throttle`` before any password is hashed: a delay per
address and a global budget, and none for a browser the admin has logged in
with before, so no one can lock the admin out.
"""

import hashlib
import math
from functools import wraps
from urllib.parse import urlsplit

from flask import (Blueprint, abort, current_app, flash, redirect, render_template, request,
                   url_for)
from flask_babel import gettext, ngettext
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from ..core.db import Setting, db
from ..htmx import is_htmx
from . import sessions, throttle

bp = Blueprint("auth", __name__, url_prefix="/admin")
PASSWORD_KEY = "admin_password_hash"
MIN_PASSWORD_LENGTH = 8
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


# -- the password -------------------------------------------------------------------------

def password_hash():
    """The admin password's hash: the environment's if set, else the database's, else None."""
    return current_app.config["ADMIN_PASSWORD_HASH"] or db.session.scalar(
        select(Setting.value).where(Setting.key == PASSWORD_KEY))


def set_password(password):
    """Store ``password``'s Werkzeug hash in the database (it wins only without the env hash)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"The password needs at least {MIN_PASSWORD_LENGTH} characters.")
    hashed = generate_password_hash(password)
    row = db.session.get(Setting, PASSWORD_KEY)
    if row is None:
        db.session.add(Setting(key=PASSWORD_KEY, value=hashed))
    else:
        row.value = hashed
    sessions.end_all()               # in the same transaction: no session outlives it
    db.session.commit()


def fingerprint(hashed):
    """A short digest of the hash, kept in the session: a new password ends old sessions."""
    return hashlib.sha256(hashed.encode()).hexdigest()[:16]


def password_fingerprint():
    hashed = password_hash()
    return fingerprint(hashed) if hashed else None


def logged_in():
    """True when this request comes from a live admin session (``sessions.current``)."""
    return sessions.current(password_fingerprint())


def forget_ended_session():
    """``before_request`` ahead of CSRF: a cookie whose session has ended is emptied."""
    sessions.forget_ended(password_fingerprint)


# -- guarding the admin ---------------------------------------------------------------------

def refuse_cross_site():
    """Browsers say where a request came from; a state change from another site is refused."""
    if (request.method not in SAFE_METHODS
            and request.headers.get("Sec-Fetch-Site") == "cross-site"):
        abort(403, gettext("Changes to the admin must come from the admin's own pages."))


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def refuse_non_form_body():
    """A state change arrives as a form; another body (JSON, an image) is refused, not ignored.

    Otherwise its fields would silently be missing: a JSON body to the Train form
    would start a run with the defaults.
    """
    if request.method in SAFE_METHODS or request.mimetype in FORM_TYPES:
        return
    if request.mimetype or request.content_length or "chunked" in request.headers.get(
            "Transfer-Encoding", "").lower():
        abort(415, gettext("This form takes application/x-www-form-urlencoded or "
                           "multipart/form-data, not %(type)s: send it from the admin's own "
                           "pages.", type=request.mimetype or gettext("a body without a "
                                                                       "Content-Type")))


def require_login():
    """``before_request`` for the admin: pages go to the login, htmx requests get a 401."""
    refuse_cross_site()
    refuse_non_form_body()
    if logged_in():
        return None
    if is_htmx() or request.method not in SAFE_METHODS:
        abort(401, gettext("You are not logged in (or your session ended): reload the page to "
                           "log in."))
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def login_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        return require_login() or view(*args, **kwargs)
    return wrapped


def safe_next(target):
    """Only a path inside the admin: never another host (an open redirect), and nothing a
    Location header cannot carry (CR, LF and other control characters) or a browser reads
    as another host (a backslash: ``/\\evil.example``)."""
    target = target or ""
    parts = urlsplit(target)
    if (parts.scheme or parts.netloc or not parts.path.startswith("/admin")
            or "\\" in target or not (target.isascii() and target.isprintable())):
        return url_for("admin.dashboard")
    return target


def cookie_blocked():
    """True when a browser will refuse the Secure session cookie: plain http, not loopback.

    Browsers keep Secure cookies over http only for localhost; elsewhere the login
    would fail with a puzzling CSRF error, so the page says what to do instead.
    """
    if not current_app.config["SESSION_COOKIE_SECURE"] or request.is_secure:
        return False
    if request.headers.get("X-Forwarded-Proto", "").lower() == "https":
        return False                     # https ends at a proxy in front of the app
    return (request.host.rsplit(":", 1)[0].strip("[]")
            not in ("localhost", "127.0.0.1", "::1"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    refuse_cross_site()
    refuse_non_form_body()
    hashed = password_hash()
    if request.method == "GET":
        if logged_in():
            return redirect(safe_next(request.args.get("next")))
        return render_template("admin/login.html", configured=bool(hashed),
                               next=request.args.get("next", ""),
                               cookie_blocked=cookie_blocked())
    target = request.form.get("next", "")
    if not hashed:
        return render_template("admin/login.html", configured=False, next=target), 403
    if len(request.form.getlist("password")) > 1:
        return render_template("admin/login.html", configured=True, next=target,
                               error=gettext("The password came more than once: send it once.")), 400
    counted = throttle.keys()
    client = throttle.address_key()
    held = throttle.count_attempt(counted)
    if held is not None:
        seconds, key = held
        return render_template("admin/login.html", configured=True, next=target,
                               error=wait_message(seconds, key)), 429, \
            {"Retry-After": str(seconds)}
    if not check_password_hash(hashed, request.form.get("password", "")):
        current_app.logger.warning("failed admin login from %s", client)
        return render_template("admin/login.html", configured=True, next=target,
                               error=gettext("That password is not right.")), 401
    throttle.succeeded(counted)
    sessions.begin(fingerprint(hashed), client)       # clears the cookie's session first
    current_app.logger.info("admin login from %s", client)
    return throttle.trust_browser(redirect(safe_next(target)))


def wait_message(seconds, key):
    when = (ngettext("%(num)s second", "%(num)s seconds", seconds) if seconds < 120
            else ngettext("%(num)s minute", "%(num)s minutes", math.ceil(seconds / 60)))
    if key == throttle.GLOBAL:
        return gettext("Too many failed logins on this site just now: try again in %(when)s. A "
                       "browser that has logged in here before is not held up.", when=when)
    return gettext("Too many failed logins: try again in %(when)s.", when=when)


@bp.post("/logout")
@login_required
def logout():
    sessions.end()                   # the row: a copy of this cookie is logged out too
    flash(gettext("You are logged out."))
    return redirect(url_for("auth.login"))


def init_app(app):
    app.register_blueprint(bp)
    app.add_template_global(logged_in, "admin_logged_in")   # the admin masthead's menu
