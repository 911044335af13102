"""A labelled drawing, as the page and the API send it: read, guessed, stored, rate-limited.

    POST /corrections      the page's "Right" / "It was a N" form (htmx, CSRF-protected)

``add`` reads the upload exactly as for a prediction, records the serving
model's guess and version with it, and stores it (``core.samples``);
``POST /api/v1/samples`` (``api``) calls it too. Anonymous submissions are
rate-limited per client by ``count_submission`` (Flask-Limiter; in memory, or
Redis when ``REDIS_URL`` is set).
"""

from flask import Blueprint, current_app, render_template, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from .. import errors
from ..core import samples
from ..core.served import get_model
from .decode import SIGNATURES
from .normalise import read_digit
from .uploads import image_bytes

bp = Blueprint("samples", __name__)


def add(upload, label, source, state=samples.NEW, client=None, loaded=None, **tags):
    """Read ``upload`` (PNG/JPEG bytes) as the page would, and store it labelled ``label``
    in review ``state``, from ``client`` (a ``samples.client_key``).

    ``loaded`` is the model that read it (default: the served one); ``tags`` go to
    ``samples.store``. Raises ``decode.ImageError`` for an unreadable image and
    ``samples.SampleError`` for a blank one; nothing is stored then.
    """
    digit = read_digit(upload)
    if digit.image is None:
        raise samples.SampleError(f"{digit.blank} Draw the digit before saving it.")
    loaded = loaded or get_model()
    reading = loaded.read(digit.image)
    upload_type = next(f"image/{kind.lower()}" for sig, kind in SIGNATURES.items()
                       if upload.startswith(sig))
    return samples.store(upload, upload_type, digit.image, label, predicted=reading.digit,
                         model_version=loaded.version, source=source, state=state,
                         client=client, **tags)


def count_submission(key=None):
    """Count this request against the client's limit; raises a 429 once it is used up.

    ``key`` counts for someone other than the address: a class's student (a whole class
    behind one school address must not share one person's limit).
    """
    limiter = current_app.extensions["digits_limiter"]
    with limiter.limit(lambda: current_app.config["SAMPLES_RATE_LIMIT"],
                       key_func=(lambda: key) if key else None):
        pass


def teach_row(problem):
    return render_template("partials/_teach.html", problem=problem)


@bp.post("/corrections")
@errors.htmx_fragment(teach_row)
def correct():
    """The page's answer to "Was it right?": stores the canvas with the label the visitor gave."""
    count_submission()
    try:
        label = samples.parse_label(request.form.getlist("label"))
        sample = add(image_bytes(), label, source="page",
                     client=samples.client_key(request.remote_addr))
    except samples.SampleError as exc:
        return teach_row(str(exc)), exc.status
    return render_template("partials/_teach.html", saved=sample)


def init_app(app):
    """Register the view, with a limiter of this app's own (memory, or Redis at ``REDIS_URL``)."""
    app.config["RATELIMIT_STORAGE_URI"] = app.config["REDIS_URL"] or "memory://"
    limiter = app.extensions["digits_limiter"] = Limiter(get_remote_address, app=app)
    # Limits are counted only where a view asks (``count_submission``). Flask-Limiter
    # also looks at every request before its view, finding no limit for any: drop
    # that hook (there is none when limits are off), which cost predictions 0.07 ms.
    hooks = app.before_request_funcs[None]
    if limiter._check_request_limit in hooks:
        hooks.remove(limiter._check_request_limit)
    app.register_blueprint(bp)
