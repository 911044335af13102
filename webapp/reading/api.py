"""The JSON API, all of ``/api/v1``: predict, explain, dream, models and samples.

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

``POST /api/v1/explain`` answers what predict answers and why (``explanation``:
each pixel's share of the score, one hidden unit's arithmetic, on the exact
input vector); ``GET /api/v1/dream/<digit>`` is the served model's dream of a
digit (``dreams``, cached per version); ``GET /api/v1/models/<version>`` is a
version's ``.npz`` as stored. ``docs/api.md`` documents every field.

``POST /api/v1/samples`` takes the image the same way and a ``label`` (a form
field or a query parameter: a digit, or ``none`` for "not a digit"), stores it
as the page's corrections are stored (``corrections.add``: state "new", for the
operator's review, after spending the client's budgets) and answers 201 with
``{"id", "label", "predicted", "model_version", "held_out", "state"}``. With an
``Idempotency-Key`` header, a retry under the same key gets that first answer
again and stores nothing (``IDEMPOTENCY_HOURS``). Readings are budgeted per
client (``limits.budgeted_reading``; 429 with ``Retry-After``).

The API takes no cookies, so no CSRF token; instead a browser on another site
may not change anything through it (``security.cross_site_refusal``): a POST
with ``Sec-Fetch-Site: cross-site`` or a foreign ``Origin`` is a 403. Scripts
and servers send neither header and are unaffected.
"""

import hashlib

import numpy as np
import orjson
from flask import Blueprint, abort, current_app, request
from flask_babel import gettext
from sqlalchemy.exc import IntegrityError

from ..core import registry, samples
from ..core.served import get_model, takes_turns
from ..security import cross_site_refusal, csrf
from . import dreams, explanation
from .corrections import add
from .limits import budgeted_reading
from .normalise import read_digit
from .photo import read_photo
from .uploads import FORM_TYPES, image_bytes, is_photo

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


@bp.before_request
def refuse_cross_site():
    """A browser on another site may read nothing and change nothing here."""
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        refusal = cross_site_refusal(request.headers, request.host)
        if refusal:
            abort(403, refusal)


def rounded(array, decimals):
    """float32 values rounded to ``decimals`` places, still an array: orjson writes each
    one in its shortest form (0.1235, not 0.12349999696016312) without a list of floats."""
    return np.round(np.asarray(array, dtype=np.float32), decimals)


def json_bytes(answer):
    """The answer as JSON by orjson: a tenth of the time Flask's json takes for ~1,000 numbers."""
    return orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)


def json_response(answer):
    return current_app.response_class(json_bytes(answer), mimetype="application/json")


def model_facts(loaded):
    return {"version": loaded.version, "sizes": loaded.net.sizes, "deskew": loaded.net.deskew}


def read_upload(loaded):
    """(predict's answer, the ``Reading`` or None for a blank image) for the request's image;
    with ``source=photo`` it is read as a photo of paper (``photo``)."""
    digit = read_photo(image_bytes())[0] if is_photo() else read_digit(image_bytes())
    return answer_for(loaded, digit)


def answer_for(loaded, digit):
    """(predict's answer, the ``Reading`` or None) for a ``normalise.Digit`` under ``loaded``;
    ``fastpath`` answers with it too."""
    answer = {"model": model_facts(loaded)}
    if digit.image is None:
        return {**answer, "digit": None, "reason": digit.blank, "confidence": None,
                "probabilities": None, "hidden": None, "input": None}, None
    reading = loaded.read(digit.image)
    return {**answer, "digit": reading.digit, "confidence": round(reading.confidence, 6),
            "probabilities": rounded(reading.probabilities, 6),
            "hidden": [rounded(h, 4) for h in reading.hidden],
            "input": rounded(reading.seen, 4)}, reading


@bp.post("/predict")
@budgeted_reading
@takes_turns
def predict():
    return json_response(read_upload(get_model())[0])


def one_field(name):
    """A form field or query parameter sent at most once, or None; twice is a 400."""
    values = request.args.getlist(name)
    if request.mimetype in FORM_TYPES:
        values += request.form.getlist(name)
    if len(values) > 1:
        abort(400, gettext("The field %(field)s came more than once: send it once.",
                           field=repr(name)))
    return values[0] if values else None


@bp.post("/explain")
@budgeted_reading
@takes_turns
def explain():
    """predict's answer, plus why: ``explained``, ``attribution``, ``score`` and ``unit``.

    ``digit`` (0-9, default the reading) and ``unit`` (default the strongest)
    come as form fields or query parameters. ``input`` is the exact float32
    vector the first layer multiplied, not rounded, so every sum can be redone.
    """
    loaded = get_model()
    digit = explanation.digit_choice(one_field("digit"))
    unit = explanation.unit_choice(one_field("unit"), loaded.net)
    answer, reading = read_upload(loaded)
    if reading is None:
        return json_response({**answer, "explained": None, "attribution": None,
                              "score": None, "unit": None})
    why = explanation.explain_reading(loaded, reading, digit, unit)
    return json_response({**answer, "input": reading.seen, **explanation.as_json(why)})


@bp.get("/dream/<digit>")
def dream(digit):
    """The input the served model reads most surely as ``digit``: image, probabilities, model."""
    digit = dreams.digit_of(digit)
    loaded = get_model()
    found = dreams.get_dream(loaded, digit)
    return json_response({"digit": digit, "image": found.image.astype(np.float32).reshape(28, 28),
                          "probabilities": rounded(found.probabilities, 6),
                          "model": model_facts(loaded)})


@bp.get("/models/<int:version>")
def model_file(version):
    """Model version ``version``'s ``.npz`` as stored (``model/pretrained.npz``'s format)."""
    try:
        stored = registry.get(version)
    except registry.RegistryError as exc:
        abort(404, str(exc))
    response = current_app.response_class(stored.weights, mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = f'attachment; filename="digits-model-{version}.npz"'
    response.headers["X-Content-SHA256"] = stored.sha256
    return response


def idempotency_key():
    """The request's ``Idempotency-Key``, or None; a malformed one is a 400."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise samples.SampleError(f"The {IDEMPOTENCY_HEADER} header must be 1 to "
                                  f"{MAX_KEY_LENGTH} printable ASCII characters (a UUID will "
                                  f"do).")
    return key


@bp.post("/samples")
def create_sample():
    """A labelled drawing: ``image`` as for predict, ``label`` as a form field or query parameter."""
    try:
        key = idempotency_key()
        label = samples.parse_label(request.form.getlist("label") or request.args.getlist("label"))
        upload = image_bytes()
        client = samples.client_key(request.remote_addr)
        if key is None:
            sample = add(upload, label, source="api", client=client)
            return answer_of(sample), 201
        fingerprint = hashlib.sha256(upload + b"label=%d" % label).hexdigest()
        first = samples.answer_for(key, fingerprint)
        if first is not None:
            return first[1], first[0], {"Idempotent-Replayed": "true"}
        try:
            sample = add(upload, label, source="api", client=client, remember=lambda sample: [
                samples.remembered(key, fingerprint, 201, answer_of(sample))])
        except IntegrityError:          # the same key, sent at the same moment, won the race
            first = samples.answer_for(key, fingerprint)
            if first is None:
                raise
            return first[1], first[0], {"Idempotent-Replayed": "true"}
        return answer_of(sample), 201
    except samples.SampleError as exc:
        return {"error": str(exc)}, exc.status


def answer_of(sample):
    return {"id": sample.id, "label": samples.label_value(sample.label),
            "predicted": sample.predicted, "model_version": sample.model_version,
            "held_out": sample.held_out, "state": sample.state}
