"""The digits web app: draw a digit, watch a NumPy network read it, teach it, retrain it.

``create_app()`` is the application factory; ``digits serve`` (``webapp/ops``)
runs it under gunicorn, and this package never imports its entry points. The
data path is the tree: canvas (``static/draw.js``) → HTTP (``reading.draw``,
``reading.api``, ``reading.uploads``) → ``reading.decode`` and
``reading.normalise`` (Pillow) → ``core.served`` (the network) →
``templates/partials``. The areas, each a subpackage whose docstring says what
it may import:

    core       the database, model versions, collected samples, the served model
    reading    an image in, a reading out: the draw page and the JSON API
    teaching   retrain settings, training runs, the job queue and its worker
    admin      the dashboard, the review queue, its login (sessions, throttle), run panel, charts
    classroom  class sessions: joining, the class board, a class teaching its model
    ops        the ``digits`` command, gunicorn, /healthz and the request log

Beside them, leaves every area may use: ``config`` (every setting),
``security`` (headers, secret key, CSRF), ``i18n`` (the pages' language),
``htmx`` and ``errors``.
"""

from pathlib import Path

from flask import Flask
from flask_compress import Compress

from . import errors, i18n, security
from .admin import auth, dashboard, explore, review, transfer
from .classroom import models as class_models
from .classroom import student, teacher
from .config import ROOT, Config
from .core import db, registry, served
from .ops import commands, health, model_commands, requestlog
from .reading import api, corrections, draw, dreams, fastpath, uploads
from .teaching import queue


def create_app(test_config=None):
    """Build the app: ``Config``'s defaults, then ``instance/config.py`` and the environment,
    or ``test_config`` (a dict) instead of those two.

    ``INSTANCE_PATH`` (in ``test_config`` or ``$DIGITS_INSTANCE_PATH``) moves the
    instance folder, where the SQLite database, the job queue and the secret key live.
    """
    instance_path = (test_config or {}).get("INSTANCE_PATH") or Config.value("INSTANCE_PATH")
    app = Flask(__name__, instance_relative_config=True, instance_path=instance_path,
                static_folder=str(ROOT / "static"), template_folder=str(ROOT / "templates"))
    security.private_folder(Path(app.instance_path))
    app.config.from_mapping(Config.defaults())
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_mapping(Config.from_environment())
    else:
        app.config.from_mapping(test_config)
    # Whether the operator named the hosts; if not, `digits serve --host` widens the default.
    app.config["TRUSTED_HOSTS_SET"] = app.config["TRUSTED_HOSTS"] is not None
    app.config["TRUSTED_HOSTS"] = security.trusted_hosts(app.config["TRUSTED_HOSTS"],
                                                         app.config["HOST"])
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = security.instance_secret_key(Path(app.instance_path))

    db.init_app(app)
    registry.init_app(app)
    served.init_app(app)
    class_models.init_app(app)
    queue.init_app(app)
    errors.init_app(app)
    i18n.init_app(app)
    app.before_request(uploads.refuse_cut_body)      # before CSRFProtect parses a cut form
    health.init_app(app)
    requestlog.init_app(app)
    draw.init_app(app)
    app.register_blueprint(api.bp)
    dreams.init_app(app)
    corrections.init_app(app)
    # Before CSRF is checked: a cookie copied before a logout must fail CSRF as well.
    app.before_request(auth.forget_ended_session)
    security.init_app(app)
    dashboard.init_app(app)
    transfer.init_app(app)
    explore.init_app(app)
    review.init_app(app)
    auth.init_app(app)
    student.init_app(app)
    teacher.init_app(app)
    model_commands.init_app(app)
    commands.init_app(app)
    Compress(app)
    fastpath.init_app(app)          # last: it stands in front of all of the above
    return app
