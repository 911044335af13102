"""Digits users labelled: corrections from the draw page and labelled uploads to the API.

    POST /corrections      the page's "Right" / "It was a N" form (htmx, CSRF-protected)
    POST /api/v1/samples   an image (multipart field ``image`` or a raw body) and ``label``

Both go through ``add``: the drawing is read exactly as for a prediction,
the serving model's guess and version are recorded with it, and one row is
stored holding the upload as sent (so a later preprocessing can derive the
28×28 image again), the 28×28 image, the label and the time — nothing about
the visitor. About one sample in five is held out: never trained on, it
measures whether a retrain learnt the style or only the samples.

Anonymous submissions are rate-limited per client (Flask-Limiter; in memory,
or Redis when ``REDIS_URL`` is set). The operator's review (list, relabel,
delete) calls the functions here too.
"""

import secrets

import numpy as np
from flask import Blueprint, current_app, render_template, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select

from .db import Sample, db
from .preprocess import SIGNATURES, read_digit
from .served import get_model
from .uploads import image_bytes

bp = Blueprint("samples", __name__)
DIGITS = tuple(str(d) for d in range(10))


class SampleError(ValueError):
    """A refused sample or change; ``str()`` says what to send instead."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def parse_label(value):
    """A label as sent ("7", or a form's list of them) → 7.

    Anything but exactly one ASCII digit (" 7", "٣", two labels) is refused with a message.
    """
    if isinstance(value, (list, tuple)):
        if len(value) > 1:
            raise SampleError(f"The label came {len(value)} times: send one digit from 0 to 9.")
        value = value[0] if value else None
    value = "" if value is None else str(value)
    if value not in DIGITS:
        shown = f"{value[:12]!r}{'…' if len(value) > 12 else ''}" if value else "nothing"
        raise SampleError(f"The label must be one digit from 0 to 9; got {shown}.")
    return int(value)


def add(upload, label, source):
    """Read ``upload`` (PNG/JPEG bytes) as the page would, and store it labelled ``label``.

    Raises ``preprocess.ImageError`` for an unreadable image and ``SampleError``
    for a blank one; nothing is stored then.
    """
    digit = read_digit(upload)
    if digit.image is None:
        raise SampleError(f"{digit.blank} Draw the digit before saving it.")
    loaded = get_model()
    reading = loaded.read(digit.image)
    upload_type = next(f"image/{kind.lower()}" for sig, kind in SIGNATURES.items()
                       if upload.startswith(sig))
    sample = Sample(label=label, predicted=reading.digit, model_version=loaded.version,
                    source=source, upload=upload, upload_type=upload_type,
                    pixels=to_pixels(digit.image),
                    held_out=secrets.randbelow(100) < current_app.config["HOLD_OUT_PERCENT"])
    db.session.add(sample)
    db.session.commit()
    return sample


def to_pixels(image):
    """A 28×28 image in [0, 1] → 784 bytes (0..255), as stored."""
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8).tobytes()


def image(sample):
    """A stored sample's 28×28 image, uint8 (28, 28), white ink on black (before deskewing)."""
    return np.frombuffer(sample.pixels, dtype=np.uint8).reshape(28, 28)


def _set(held_out):
    rows = db.session.execute(select(Sample.pixels, Sample.label)
                              .where(Sample.held_out == held_out).order_by(Sample.id)).all()
    images = np.frombuffer(b"".join(r.pixels for r in rows), dtype=np.uint8).reshape(-1, 28, 28)
    return images, np.array([r.label for r in rows], dtype=np.int64)


def training_set():
    """Every sample that may be trained on: ``(images uint8 (n, 28, 28), labels (n,))``."""
    return _set(held_out=False)


def held_out_set():
    """The held-out samples, never trained on: ``(images uint8 (n, 28, 28), labels (n,))``."""
    return _set(held_out=True)


def counts():
    """Samples per digit, a list of 10 ints."""
    per_label = dict(db.session.execute(select(Sample.label, func.count())
                                        .group_by(Sample.label)).all())
    return [per_label.get(d, 0) for d in range(10)]


def page(number, per_page=24):
    """``(samples, total)``: page ``number`` (from 1) of every sample, newest first."""
    total = db.session.scalar(select(func.count()).select_from(Sample))
    rows = db.session.scalars(select(Sample).order_by(Sample.id.desc())
                              .offset((max(number, 1) - 1) * per_page).limit(per_page)).all()
    return rows, total


def get(sample_id):
    sample = db.session.get(Sample, sample_id)
    if sample is None:
        raise SampleError(f"There is no sample {sample_id}: it may have been deleted.", 404)
    return sample


def relabel(sample_id, label):
    sample = get(sample_id)
    sample.label = parse_label(label)
    db.session.commit()
    return sample


def delete(sample_id):
    get(sample_id)
    db.session.execute(sql_delete(Sample).where(Sample.id == sample_id))
    db.session.commit()


def count_submission():
    """Count this request against the client's limit; raises a 429 once it is used up."""
    limiter = current_app.extensions["digits_limiter"]
    with limiter.limit(lambda: current_app.config["SAMPLES_RATE_LIMIT"]):
        pass


@bp.post("/corrections")
def correct():
    """The page's answer to "Was it right?": stores the canvas with the label the visitor gave."""
    count_submission()
    try:
        label = parse_label(request.form.getlist("label"))
        sample = add(image_bytes(), label, source="page")
    except SampleError as exc:
        return render_template("partials/_teach.html", problem=str(exc)), exc.status
    return render_template("partials/_teach.html", saved=sample)


@bp.post("/api/v1/samples")
def create():
    """A labelled drawing: ``image`` as for predict, ``label`` as a form field or query parameter."""
    count_submission()
    try:
        label = parse_label(request.form.getlist("label") or request.args.getlist("label"))
        sample = add(image_bytes(), label, source="api")
    except SampleError as exc:
        return {"error": str(exc)}, exc.status
    return {"id": sample.id, "label": sample.label, "predicted": sample.predicted,
            "model_version": sample.model_version, "held_out": sample.held_out}, 201


def init_app(app):
    """Register the views, with a limiter of this app's own (memory, or Redis at ``REDIS_URL``)."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    app.config.setdefault("RATELIMIT_ENABLED", True)
    # Redis down must not turn every submission into a 500: count in memory meanwhile.
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    limiter = app.extensions["digits_limiter"] = Limiter(get_remote_address, app=app)
    # Limits are counted only where a view asks (``count_submission``). Flask-Limiter
    # also looks at every request before its view, finding no limit for any: drop
    # that hook (there is none when limits are off), which cost predictions 0.07 ms.
    hooks = app.before_request_funcs[None]
    if limiter._check_request_limit in hooks:
        hooks.remove(limiter._check_request_limit)
    app.register_blueprint(bp)
