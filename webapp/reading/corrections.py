"""A labelled drawing, as the page and the API send it: read, guessed, budgeted, stored.

    POST /corrections      the page's "Right" / "It was a N" form (htmx, CSRF-protected)

``add`` reads the upload exactly as for a prediction, records the serving
model's guess and version with it, and stores it (``core.samples``) as a
canonical re-encoding: the luminance the decoder made of it, as an 8-bit
greyscale PNG (a canvas's is under 1 KiB, a photo's 5–14 KiB, whatever was
sent). Reading that PNG gives the same luminance again (to a grey level), so a
later preprocessing can derive the 28×28 image anew. ``POST /api/v1/samples``
(``api``) and a class's corrections call ``add`` too, and so must any route
that stores a sample: ``add`` spends the sender's budgets (``limits``) for
every sample but the operator's own, and refuses any sample when the store is
full.
"""

import io

import numpy as np
from flask import Blueprint, render_template, request
from flask_babel import gettext
from PIL import Image

from .. import errors
from ..core import samples
from ..core.served import get_model
from . import limits
from .decode import decode
from .normalise import normalise
from .uploads import image_bytes

bp = Blueprint("samples", __name__)
# The longest side a stored drawing keeps. The decoder already shrank anything larger
# than a canvas to a shorter side under 280 px; this bounds a long thin strip too.
MAX_STORED_SIDE = 560
STORED_TYPE = "image/png"
OPERATOR_SOURCES = ("admin", "import")       # the dashboard's and the CLI's: never budgeted


def canonical_png(lum):
    """Luminance (h, w) float32 in [0, 255] → the greyscale PNG stored for it."""
    grey = Image.fromarray(np.clip(lum + 0.5, 0, 255).astype(np.uint8), "L")
    factor = -(-max(grey.size) // MAX_STORED_SIDE)
    if factor > 1:
        grey = grey.reduce(factor)
    buffer = io.BytesIO()
    grey.save(buffer, "PNG", compress_level=9)
    return buffer.getvalue()


def add(upload, label, source, state=samples.NEW, client=None, loaded=None, remember=None,
        budget_key=None, **tags):
    """Read ``upload`` (PNG/JPEG bytes) as the page would, and store it labelled ``label``
    in review ``state``, from ``client`` (a ``samples.client_key``).

    ``loaded`` is the model that read it (default: the served one); ``remember`` and
    ``tags`` go to ``samples.store``. Unless the operator sent it (``OPERATOR_SOURCES``),
    it spends from the budgets of ``budget_key`` (default: the request's address; a
    class's student has one of their own, so a class behind one school address does not
    share one person's budget). Raises ``decode.ImageError`` for an unreadable image,
    ``samples.SampleError`` for a blank one or a full store, and a 429 for a client over
    budget; nothing is stored then.
    """
    public = source not in OPERATOR_SOURCES
    if public:
        limits.spend_sample(budget_key)
    lum = decode(upload)
    digit = normalise(lum)
    if digit.image is None:
        raise samples.SampleError(gettext("%(why)s Draw the digit before saving it.",
                                          why=digit.blank))
    stored = canonical_png(lum)
    if samples.usage()["full"]:
        raise samples.SampleError(gettext("The sample store is full: nothing was saved. An admin "
                                          "must delete samples or raise SAMPLES_STORAGE_MB."), 507)
    if public:
        limits.spend_storage(len(stored), budget_key)
    loaded = loaded or get_model()
    reading = loaded.read(digit.image)
    return samples.store(stored, STORED_TYPE, digit.image, label, predicted=reading.digit,
                         model_version=loaded.version, source=source, state=state,
                         client=client, remember=remember, **tags)


def teach_row(problem):
    return render_template("partials/_teach.html", problem=problem)


@bp.post("/corrections")
@errors.htmx_fragment(teach_row)
def correct():
    """The page's answer to "Was it right?": stores the canvas with the label the visitor gave."""
    try:
        label = samples.parse_label(request.form.getlist("label"))
        sample = add(image_bytes(), label, source="page",
                     client=samples.client_key(request.remote_addr))
    except samples.SampleError as exc:
        return teach_row(str(exc)), exc.status
    return render_template("partials/_teach.html", saved=sample)


def init_app(app):
    limits.init_app(app)
    app.register_blueprint(bp)
