"""``POST /api/v1/predict`` answered in the WSGI layer, in front of Flask's routing.

A reading costs about 0.25 ms of work (decode, normalise, network, JSON);
through Flask it cost four times that: the request context and its session,
URL matching, a dozen hooks (CSRF, the limiter's, the request timer), the
response object and its headers, each for a request whose answer needs none
of them. ``FastPath`` wraps ``app.wsgi_app`` and answers the common request
itself: a raw ``image/png`` or ``image/jpeg`` body with a ``Content-Length``
within the limit and no cookie. Everything it does is what the Flask view does, with the
same functions (``api.answer_for``, ``served.ServedModel``, ``decode``,
``normalise``), so the JSON is the same bytes; the headers are the ones
Flask sent with its own first answer (the security headers, ``Vary``, whatever
a hook adds), with the length and compression made per answer by
Flask-Compress's own choice and compressor, the request log
gets its line, the served model follows promotions as before (it is the
same ``ServedModel``), and the reading takes its turn on the same lock.

Anything else goes to Flask untouched: another route or method, a form or
multipart upload, a chunked or oversized body, a request with cookies (the
API takes none, but Flask's hooks look at them), a browser's request (``Origin``
or ``Sec-Fetch-Site``: Flask decides whether it comes from another site), an
untrusted ``Host``, a client over its reading budget, and every error. An image
that does not read (``ImageError``) or anything unexpected is handed to Flask
with the body it came with, so errors are Flask's own: JSON 4xx, the same
messages, the 500 logged. A request is never half answered here.

The fast path is on only while the API's view and the app's hooks are the
ones it reproduces (``unknown``). A new hook or decorator on the reading
(a per-client budget, a new header) turns it off, logged at start-up, until
it is taught the same step here, in ``FastPath.__call__`` (``tests/test_fastpath.py``
fails meanwhile, so nobody forgets).
"""

import logging
import time
from io import BytesIO

from flask_compress import flask_compress
from werkzeug.sansio.utils import host_is_trusted

from ..core import served
from ..security import add_security_headers, printable
from . import api, limits
from .decode import ImageError
from .normalise import read_digit
from .uploads import RAW_TYPES, refuse_cut_body

PREDICT = "/api/v1/predict"


def hook_name(function):
    function = getattr(function, "func", function)            # functools.partial
    return getattr(function, "__qualname__", repr(function))


# The hooks a request to the API meets through Flask, and why each is safe to skip here.
KNOWN_BEFORE = {
    refuse_cut_body.__qualname__,            # chunked bodies go to Flask
    "start_timer",                           # the request log: timed here
    "CSRFProtect.init_app.<locals>.csrf_protect",   # the API is exempt
    "forget_ended_session",                  # acts on a session cookie: those go to Flask
    "refuse_cross_site",                     # (the API's) browsers' requests go to Flask
    "allow_model_upload",                    # admin.transfer: acts on the model upload only
}
KNOWN_AFTER = {
    "log_request",                           # written here
    "Limiter.__inject_headers",              # no limit on predictions: adds nothing
    add_security_headers.__qualname__,       # added here
    "Compress.after_request",                # done here, by Flask-Compress's functions
    "vary_on_language",                      # HTML pages only; the API speaks English
}
KNOWN_TEARDOWN = {"Limiter.__release_context"}
TAKES_TURNS = served.takes_turns(lambda: None).__code__
BUDGETED = limits.budgeted_reading(lambda: None).__code__


def unknown(app):
    """What on the API's way through Flask the fast path does not reproduce (empty: none)."""
    found = []
    view = app.view_functions.get("api.predict")
    inner = getattr(view, "__wrapped__", None)
    if (view is not api.predict or view.__code__ is not BUDGETED
            or getattr(inner, "__code__", None) is not TAKES_TURNS):
        found.append("api.predict is decorated differently")
    for table, known in ((app.before_request_funcs, KNOWN_BEFORE),
                         (app.after_request_funcs, KNOWN_AFTER),
                         (app.teardown_request_funcs, KNOWN_TEARDOWN)):
        for blueprint in (None, "api"):
            found += [f"hook {hook_name(f)}" for f in table.get(blueprint, ())
                      if hook_name(f) not in known]
    for blueprint in (None, "api"):
        if app.url_value_preprocessors.get(blueprint):
            found.append(f"url_value_preprocessor on {blueprint}")
    return found


def log_line(logger, method, path, status, started):
    """The request log's line (``ops.requestlog``): what ``logger.info`` would log, without
    its look up the call stack for the caller's file and line (a third of its cost, and
    never shown)."""
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 0, "%s %s %d %.1f ms",
                               (printable(method), printable(path), status,
                                (time.perf_counter() - started) * 1000),
                               None)
    logger.handle(record)


class FastPath:
    """WSGI middleware: ``POST /api/v1/predict`` here, everything else to ``flask_app``."""

    def __init__(self, app, flask_app):
        self.app, self.flask = app, flask_app
        self.missing = unknown(app)
        if self.missing:
            app.logger.warning("the reading's fast path is off (%s): predictions go through "
                               "Flask", "; ".join(self.missing))
        compress = [getattr(f, "__self__", None) for f in app.after_request_funcs.get(None, ())
                    if hook_name(f) == "Compress.after_request"]
        self.algorithms = compress[0].enabled_algorithms if compress else ()
        self.compressible = "application/json" in app.config["COMPRESS_MIMETYPES"]
        self.log = app.extensions.get("digits_request_log")
        self.learnt = {}       # URL scheme → (headers, where Content-Encoding goes), from Flask
        self.answered = 0                            # answers given here (for the tests)

    @property
    def on(self):
        return not self.missing

    def __call__(self, environ, start_response):
        if (environ.get("PATH_INFO") != PREDICT or environ.get("REQUEST_METHOD") != "POST"
                or self.missing or not self.trusted(environ)
                or "HTTP_ORIGIN" in environ or "HTTP_SEC_FETCH_SITE" in environ):
            return self.flask(environ, start_response)   # browsers: Flask checks the site
        started = time.perf_counter()
        body = self.body(environ)
        if body is None:                       # not the common request: Flask reads it
            return self.flask(environ, start_response)
        scheme = environ.get("wsgi.url_scheme")
        if scheme not in self.learnt or not self.budget(environ):
            # The first answer per scheme is Flask's, and its headers are every later
            # answer's; a client over its reading budget gets Flask's 429.
            environ["wsgi.input"] = BytesIO(body)
            return self.flask(environ, self.learning(start_response, scheme))
        payload = self.read(body)
        if payload is None:                    # an error: Flask answers it, from the same body
            environ["wsgi.input"] = BytesIO(body)
            return self.flask(environ, start_response)
        headers, encoding_at = self.learnt[scheme]
        headers = list(headers)
        algorithm = flask_compress._choose_algorithm(
            self.algorithms, environ.get("HTTP_ACCEPT_ENCODING", ""))
        if algorithm and self.compressible and len(payload) >= self.app.config["COMPRESS_MIN_SIZE"]:
            payload = flask_compress._compress_data(self.app, payload, algorithm)
            headers.insert(encoding_at, ("Content-Encoding", algorithm))
        headers[1] = ("Content-Length", str(len(payload)))
        if self.log is not None:
            log_line(self.log, "POST", PREDICT, 200, started)
        self.answered += 1
        start_response("200 OK", headers)
        return [payload]

    def learning(self, start_response, scheme):
        """``start_response`` that keeps the headers of Flask's first plain 200 answer.

        They are the same for every answer on that URL scheme (security headers,
        HSTS on https, ``Vary``, whatever a hook adds), except the length and the
        compression, which are made per answer.
        """
        def learn(status, headers, exc_info=None):
            names = [name for name, _ in headers]
            if (status.startswith("200") and "Content-Encoding" not in names
                    and names[:2] == ["Content-Type", "Content-Length"] and "Vary" in names
                    and "Set-Cookie" not in names):
                self.learnt[scheme] = (list(headers), names.index("Vary") + 1)
            return start_response(status, headers, exc_info)
        return learn

    def budget(self, environ):
        """A reading from the client's budget (``limits.budgeted_reading``, the same bucket);
        False when it is spent (Flask then refuses it, in its words and with Retry-After)."""
        config = self.app.config
        rate = config["PREDICT_RATE_LIMIT"]
        if rate <= 0 or not config["RATELIMIT_ENABLED"]:
            return True
        return self.app.extensions["digits_reading_buckets"].take(
            environ.get("REMOTE_ADDR") or "unknown", rate, config["PREDICT_BURST"]) is None

    def trusted(self, environ):
        """The Host is one the app answers to (else Flask refuses it, in its own words)."""
        names = self.app.config["TRUSTED_HOSTS"]
        return names is None or host_is_trusted(environ.get("HTTP_HOST"), names)

    def body(self, environ):
        """The raw image body, or None when Flask should read the request itself."""
        mimetype = environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
        if (mimetype not in RAW_TYPES or "HTTP_TRANSFER_ENCODING" in environ
                or "HTTP_COOKIE" in environ):       # the API takes none; Flask sees to them
            return None
        if environ.get("QUERY_STRING"):         # ?source=photo and the like: Flask reads them
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None
        limit = self.app.config["MAX_CONTENT_LENGTH"]
        if length <= 0 or (limit is not None and length >= limit):
            return None
        body = environ["wsgi.input"].read(length)
        if len(body) != length:                 # cut short: Flask says so
            environ["wsgi.input"] = BytesIO(body)
            environ["CONTENT_LENGTH"] = str(length)
            return None
        return body

    def read(self, body):
        """The JSON answer for an image body, or None for Flask to answer (errors)."""
        model = self.app.extensions["digits_model"]
        model.current(self.app)        # a look for a new version waits outside the turn lock
        try:
            with model.turns:
                answer, _ = api.answer_for(model.current(self.app), read_digit(body))
                return api.json_bytes(answer)
        except ImageError:
            return None
        except Exception:  # noqa: BLE001 - Flask logs it and answers the 500 in its own words
            return None


def init_app(app):
    """Put the fast path in front of the app's WSGI callable (after every other extension)."""
    app.wsgi_app = FastPath(app, app.wsgi_app)
