"""Every error as a 4xx the caller can act on, in the caller's language.

The JSON API gets ``{"error": "..."}``; the canvas's htmx request gets the
prediction fragment in its error state (so the page says what went wrong
where the answer would be), other htmx requests a one-line message for the
panel they fill; a browser navigating gets a small HTML page. Unexpected
exceptions are logged and answered with a 500 in the same three forms,
never a traceback.

An htmx view whose errors belong somewhere special declares it beside its
route with ``@errors.htmx_fragment(render)``: ``render(message)`` makes the
fragment (the draw page's reading, its correction row). This module knows no
area's views and imports nothing from ``webapp`` but ``htmx`` and ``security``.

A database that cannot answer (down, unreachable past its connect timeout,
locked past SQLite's busy timeout, or out of disk) is a 503 with a message and
``Retry-After``, in the same three forms: nothing was stored, and trying again
later is the right thing to do. Predictions need no database and keep working.
"""

import errno

from flask import current_app, render_template, request
from flask.globals import request_ctx
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError, SecurityError

from .htmx import is_htmx
from .security import printable

MESSAGES = {
    404: _l("There is nothing at this address."),
    405: _l("This address does not accept that method."),
    "host": _l("This server does not answer to that host name (the request's Host header). Its "
               "operator lists the names it answers to in DIGITS_TRUSTED_HOSTS."),
    413: _l("The request is too large (the limit is %(limit)s KiB): send a smaller PNG or JPEG, "
            "or shorter form fields."),
}
RETRY_AFTER_SECONDS = 10
# What a full disk looks like: SQLite's SQLITE_FULL, PostgreSQL's SQLSTATE 53100, the OS's errno.
FULL_SIGNS = ("database or disk is full", "could not extend file", "no space left on device",
              "disk quota exceeded")
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}


def init_app(app):
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(DBAPIError, handle_storage_error)
    app.register_error_handler(PoolTimeout, handle_storage_error)
    app.register_error_handler(OSError, handle_storage_error)
    app.register_error_handler(Exception, handle_unexpected)


def htmx_fragment(render):
    """Decorate a view (under its route) so its errors, for htmx, are ``render(message)``."""
    def mark(view):
        view.htmx_error_fragment = render
        return view
    return mark


def respond(status, message):
    """The error as JSON, an htmx fragment or a page, whichever the request wants; plain text
    when the request could not be routed at all (a Host name the app does not answer to:
    no URL can be built for a page)."""
    if request_ctx.url_adapter is None:
        return current_app.response_class(message + "\n", status, mimetype="text/plain")
    if request.path.startswith("/api/"):
        return {"error": message}, status
    if not is_htmx():
        return render_template("error.html", status=status, message=message), status
    view = current_app.view_functions.get(request.endpoint)
    render = getattr(view, "htmx_error_fragment", None)
    if render is not None:
        return render(message), status
    return render_template("partials/_problem.html", message=message), status


def handle_csrf_error(exc):
    return respond(400, gettext("This form was not sent from a page of this site, or the page "
                                "is too old: reload the page and try again."))


def handle_with_status(exc):
    """For exceptions that carry their HTTP ``status`` (``reading.decode.ImageError``)."""
    return respond(exc.status, str(exc))


def handle_http_error(exc):
    """A view's own ``abort(code, message)`` wins; else a plain sentence for the code."""
    if isinstance(exc, SecurityError) and request_ctx.url_adapter is None:
        return respond(400, str(MESSAGES["host"]))
    custom = exc.description != type(exc).description
    if custom:
        return with_retry_after(exc, respond(exc.code, exc.description))
    message = str(MESSAGES.get(exc.code, exc.description))
    if exc.code == 413:
        message = message % {"limit": (current_app.config["MAX_CONTENT_LENGTH"] or 0) // 1024}
    return respond(exc.code, message)


def with_retry_after(exc, answer):
    """A 429's or 503's ``Retry-After`` (werkzeug's ``retry_after``) kept on the answer."""
    response = current_app.make_response(answer)
    if getattr(exc, "retry_after", None) is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def handle_storage_error(exc):
    """503 for a database or disk that cannot take the request now; a bug stays a 500."""
    if isinstance(exc, IntegrityError) or (isinstance(exc, OSError)
                                           and exc.errno not in STORAGE_ERRNOS):
        return handle_unexpected(exc)
    cause = (str(getattr(exc, "orig", None) or exc).strip() or "no detail").splitlines()[0]
    current_app.logger.error("storage unavailable on %s %s: %s: %s", printable(request.method),
                             printable(request.path), type(exc).__name__, cause)
    full = (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)) or any(
        sign in cause.lower() for sign in FULL_SIGNS)
    shown = request.method in ("GET", "HEAD")
    if full:
        message = (gettext("This page could not be shown: the server's storage is full. Try "
                           "again in a moment.") if shown else
                   gettext("Nothing was saved: the server's storage is full. Try again in a "
                           "moment."))
    else:
        message = (gettext("This page could not be shown: the database is not available "
                           "right now. Try again in a moment.") if shown else
                   gettext("Nothing was saved: the database is not available right now. Try "
                           "again in a moment."))
    response = current_app.make_response(respond(503, message))
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def handle_unexpected(exc):
    current_app.logger.exception("unhandled error on %s %s", printable(request.method),
                                 printable(request.path))
    return respond(500, gettext("The server met an unexpected error and could not answer. "
                                "It has been logged; try again in a moment.")
                   if not request.path.startswith("/api/") else InternalServerError.description)
