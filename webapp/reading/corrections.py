"""A labelled drawing, as the page and the API send it: read, guessed, budgeted, stored.

    POST /corrections      the page's "Right" / "It was a N" form (htmx, CSRF-protected)

``add`` reads the upload exactly as for a prediction, records the serving
model's guess and version with it, and stores it (``core.samples``) as a
canonical re-encoding: the luminance the decoder made of it, as an 8-bit
greyscale PNG (a canvas's is under 1 KiB, a photo's 5–14 KiB, whatever was sent). Reading that PNG
gives the same luminance again (to a grey level), so a later preprocessing can
derive the 28×28 image anew. ``POST /api/v1/samples`` (``api``) calls ``add``
too, and so must any route that stores a sample: ``add`` spends the client's
budgets (``limits``) for each public sample (one that arrives "new"; the
operator's own arrive accepted) and refuses any sample when the store is full.
"""

import io

import numpy as np
from flask import Blueprint, render_template, request
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


def canonical_png(lum):
    """Luminance (h, w) float32 in [0, 255] → the greyscale PNG stored for it."""
    grey = Image.fromarray(np.clip(lum + 0.5, 0, 255).astype(np.uint8), "L")
    factor = -(-max(grey.size) // MAX_STORED_SIDE)
    if factor > 1:
        grey = grey.reduce(factor)
    buffer = io.BytesIO()
    grey.save(buffer, "PNG", compress_level=9)
    return buffer.getvalue()


def add(upload, label, source, state=samples.NEW, client=None, remember=None):
    """Read ``upload`` (PNG/JPEG bytes) as the page would, and store it labelled ``label``
    in review ``state``, from ``client`` (a ``samples.client_key``).

    Raises ``decode.ImageError`` for an unreadable image, ``samples.SampleError``
    for a blank one or a full store, and a 429 for a client over budget; nothing
    is stored then. ``remember`` is ``samples.store``'s.
    """
    public = state == samples.NEW          # the operator's own samples arrive accepted
    if public:
        limits.spend_sample()
    lum = decode(upload)
    digit = normalise(lum)
    if digit.image is None:
        raise samples.SampleError(f"{digit.blank} Draw the digit before saving it.")
    stored = canonical_png(lum)
    if samples.usage()["full"]:
        raise samples.SampleError("The sample store is full: nothing was saved. An admin must "
                                  "delete samples or raise SAMPLES_STORAGE_MB.", 507)
    if public:
        limits.spend_storage(len(stored))
    loaded = get_model()
    reading = loaded.read(digit.image)
    return samples.store(stored, STORED_TYPE, digit.image, label, predicted=reading.digit,
                         model_version=loaded.version, source=source, state=state,
                         client=client, remember=remember)


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
