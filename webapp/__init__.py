"""The digits web app: draw a digit, watch a NumPy network read it.

``create_app()`` is the application factory (``flask --app webapp run`` for
development, ``digits serve`` runs it under gunicorn). The data path is
canvas (``static/draw.js``) → HTTP (``draw``, ``api``, ``uploads``) →
``preprocess`` (Pillow) → ``served`` (the network) → ``templates/partials``.

Configuration comes from ``DIGITS_``-prefixed environment variables
(``DIGITS_MODEL=/path/model.npz`` sets ``MODEL``), then
``instance/config.py`` if present; a test passes ``test_config`` instead.
"""

import os
import secrets
from pathlib import Path

from flask import Flask
from flask_compress import Compress
from flask_wtf.csrf import CSRFProtect

from . import (admin, api, cli, commands, db, draw, errors, health, jobs, preprocess, registry,
               samples, served, uploads)

ROOT = Path(__file__).resolve().parent.parent

# A strict policy the page is built for: no inline script or style anywhere,
# images from the app or data: URLs (the 28×28 pictures), no framing.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
                           "form-action 'self'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def create_app(test_config=None):
    """Build the app; ``test_config`` (a dict) replaces environment and instance config.

    ``INSTANCE_PATH`` (in ``test_config`` or ``$DIGITS_INSTANCE_PATH``) moves the
    instance folder, where the SQLite database, the job queue and the secret key live.
    """
    instance_path = (test_config or {}).get("INSTANCE_PATH") or os.environ.get(
        "DIGITS_INSTANCE_PATH")
    app = Flask(__name__, instance_relative_config=True, instance_path=instance_path,
                static_folder=str(ROOT / "static"), template_folder=str(ROOT / "templates"))
    app.config.from_mapping(
        MODEL=None,                 # version 1 in a new database; None: model.PRETRAINED
        MODEL_CHECK_SECONDS=1.0,    # how often a request may ask which version to serve
        DATABASE_URL=None,          # None: SQLite in the instance folder
        PROMOTE_MARGIN=0.005,       # a promotion may cost at most this much test accuracy
        REDIS_URL=None,             # rate limits (and the job queue) in Redis instead of locally
        SAMPLES_RATE_LIMIT="60 per minute;600 per hour",   # per client, corrections and API
        HOLD_OUT_PERCENT=20,        # of new samples, kept back to measure retrains, never trained on
        WTF_CSRF_TIME_LIMIT=None,   # a token lives as long as the session (a page left open)
        MAX_CONTENT_LENGTH=preprocess.MAX_BYTES,
        MAX_FORM_MEMORY_SIZE=preprocess.MAX_BYTES,
        UNSURE_BELOW=0.6,                      # confidence under which the page says "not sure"
        NODE_MODULES=str(ROOT / "node_modules"),
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # A live fragment is ~60 kB of markup, sent several times a second while
        # someone draws; zstd shrinks it tenfold for ~0.1 ms (gzip 1 for older browsers).
        COMPRESS_ALGORITHM=["zstd", "gzip"],
        COMPRESS_LEVEL=1,
    )
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("DIGITS")
        # The conventional names, as hosting platforms set them.
        for name in ("DATABASE_URL", "REDIS_URL"):
            if os.environ.get(name):
                app.config[name] = os.environ[name]
    else:
        app.config.from_mapping(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = instance_secret_key(Path(app.instance_path))

    db.init_app(app)
    registry.init_app(app)
    served.init_app(app)
    jobs.init_app(app)
    errors.init_app(app)
    app.before_request(uploads.refuse_cut_body)      # before CSRFProtect parses a cut form
    health.init_app(app)
    app.register_blueprint(draw.bp)
    app.register_blueprint(api.bp)
    samples.init_app(app)
    csrf = CSRFProtect(app)
    # Reading a drawing changes nothing, and the JSON API takes no cookies: no token.
    csrf.exempt(draw.predict)
    csrf.exempt(api.bp)
    csrf.exempt(samples.create)
    admin.init_app(app)
    cli.init_app(app)
    commands.init_app(app)
    app.after_request(add_security_headers)
    Compress(app)
    return app


def add_security_headers(response):
    """The headers above, where a view did not set its own. One pass over the response's
    headers: Werkzeug raises (and catches) an exception for each absent one it looks up."""
    present = {name.lower() for name in response.headers.keys()}
    for name, value in SECURITY_HEADERS.items():
        if name.lower() not in present:
            response.headers.add(name, value)
    return response


def instance_secret_key(instance):
    """A random key made once into ``instance/secret_key`` and reused by every worker.

    Published with a hard link so concurrent workers never read a half-written key.
    """
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        tmp = instance / f"secret_key.{os.getpid()}.tmp"
        tmp.write_text(secrets.token_hex(32))
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()
