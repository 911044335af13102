"""The digits users labelled, as stored: one row per drawing, and every way to read them back.

``reading.corrections`` stores what the page and the API send (``store``);
the admin lists, relabels and deletes them, and a retrain reads the training
and held-out sets. Each row holds the upload as sent (so a later
preprocessing can derive the 28×28 image again), the 28×28 image, the label,
the serving model's guess and version, and the time — nothing about the
visitor. About one sample in five is held out: never trained on, it measures
whether a retrain learnt the style or only the samples.
"""

import secrets

import numpy as np
from flask import current_app
from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select

from .db import Sample, db

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


def store(upload, upload_type, image, label, predicted, model_version, source, **tags):
    """Store one labelled drawing: the ``upload`` as sent, its 28×28 ``image`` in [0, 1],
    what the model serving ``model_version`` read (``predicted``); held out at random.
    ``tags`` are further columns (a class's ``classroom_id``, ``student_id``, ``review``)."""
    sample = Sample(label=label, predicted=predicted, model_version=model_version,
                    source=source, upload=upload, upload_type=upload_type,
                    pixels=to_pixels(image),
                    held_out=secrets.randbelow(100) < current_app.config["HOLD_OUT_PERCENT"],
                    **tags)
    db.session.add(sample)
    db.session.commit()
    return sample


def to_pixels(image):
    """A 28×28 image in [0, 1] → 784 bytes (0..255), as stored."""
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8).tobytes()


def image(sample):
    """A stored sample's 28×28 image, uint8 (28, 28), white ink on black (before deskewing)."""
    return np.frombuffer(sample.pixels, dtype=np.uint8).reshape(28, 28)


def _set(held_out, classroom_id=None):
    """Samples in or out of the held-out set: every class's and the public's, or with
    ``classroom_id`` one class's alone. A rejected sample is never in either."""
    query = select(Sample.pixels, Sample.label).where(Sample.held_out == held_out,
                                                      Sample.review != "rejected")
    if classroom_id is not None:
        query = query.where(Sample.classroom_id == classroom_id)
    rows = db.session.execute(query.order_by(Sample.id)).all()
    images = np.frombuffer(b"".join(r.pixels for r in rows), dtype=np.uint8).reshape(-1, 28, 28)
    return images, np.array([r.label for r in rows], dtype=np.int64)


def training_set(classroom_id=None):
    """Every sample that may be trained on: ``(images uint8 (n, 28, 28), labels (n,))``."""
    return _set(held_out=False, classroom_id=classroom_id)


def held_out_set(classroom_id=None):
    """The held-out samples, never trained on: ``(images uint8 (n, 28, 28), labels (n,))``."""
    return _set(held_out=True, classroom_id=classroom_id)


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
