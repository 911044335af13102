"""The JSON API, all of ``/api/v1``: ``POST /api/v1/predict`` and ``POST /api/v1/samples``.

Send a PNG or JPEG as the multipart field ``image`` or as a raw
``image/png`` / ``image/jpeg`` body (at most ``decode.MAX_BYTES``)::

    curl -F image=@seven.png http://127.0.0.1:8000/api/v1/predict

and get ``{"digit", "confidence", "probabilities": [10], "hidden": [[...] per
hidden layer], "input": 28×28 list (what the network saw, after the model's
own deskewing), "model": {"version", "sizes", "deskew"}}``. A blank or
near-blank image gives ``"digit": null`` and a ``"reason"``. ``?source=photo``
reads a photo of a digit on paper (shadows, ruled lines; see ``photo``). Errors are
``{"error": "..."}`` with 400 (unreadable), 413 (too large) or 415 (wrong type);
``errors`` renders them.

``POST /api/v1/samples`` takes the image the same way and a ``label`` (a form
field or a query parameter), stores it as the page's corrections are stored
(``corrections.add``) and answers 201 with ``{"id", "label", "predicted",
"model_version", "held_out"}``. The API takes no cookies, so no CSRF token.
"""

import numpy as np
import orjson
from flask import Blueprint, current_app, request

from ..core import samples
from ..core.served import get_model, takes_turns
from ..security import csrf
from .corrections import add, count_submission
from .normalise import read_digit
from .photo import read_photo
from .uploads import image_bytes, is_photo

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


def rounded(array, decimals):
    """float32 values rounded to ``decimals`` places, still an array: orjson writes each
    one in its shortest form (0.1235, not 0.12349999696016312) without a list of floats."""
    return np.round(np.asarray(array, dtype=np.float32), decimals)


def json_response(answer):
    """The answer as JSON by orjson: a tenth of the time Flask's json takes for ~1,000 numbers."""
    return current_app.response_class(orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY),
                                      mimetype="application/json")


@bp.post("/predict")
@takes_turns
def predict():
    loaded = get_model()
    digit = read_photo(image_bytes())[0] if is_photo() else read_digit(image_bytes())
    answer = {"model": {"version": loaded.version, "sizes": loaded.net.sizes,
                        "deskew": loaded.net.deskew}}
    if digit.image is None:
        return json_response({**answer, "digit": None, "reason": digit.blank, "confidence": None,
                              "probabilities": None, "hidden": None, "input": None})
    reading = loaded.read(digit.image)
    return json_response({
        **answer, "digit": reading.digit, "confidence": round(reading.confidence, 6),
        "probabilities": rounded(reading.probabilities, 6),
        "hidden": [rounded(h, 4) for h in reading.hidden],
        "input": rounded(reading.seen, 4)})


@bp.post("/samples")
def create_sample():
    """A labelled drawing: ``image`` as for predict, ``label`` as a form field or query parameter."""
    count_submission()
    try:
        label = samples.parse_label(request.form.getlist("label") or request.args.getlist("label"))
        sample = add(image_bytes(), label, source="api")
    except samples.SampleError as exc:
        return {"error": str(exc)}, exc.status
    return {"id": sample.id, "label": sample.label, "predicted": sample.predicted,
            "model_version": sample.model_version, "held_out": sample.held_out}, 201
