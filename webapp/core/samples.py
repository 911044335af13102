"""The digits users labelled, as stored: one row per drawing, and every way to read them back.

``reading.corrections`` stores what the page and the API send (``store``);
the admin lists, relabels and deletes them, and a retrain reads the training
and held-out sets. Each row holds the upload re-encoded (``upload``: the
drawing's luminance as decoded, a lean greyscale PNG, under 1 KiB for a canvas, from which
a later preprocessing can derive the 28×28 image again), the 28×28 image, the
label, the serving model's guess and version, the time, and a keyed hash of
the sender's address (``client_key``: bursts from one client show in the
review queue; the address itself is never stored). ``usage()`` says how full
the store is (``SAMPLES_STORAGE_MB``). About one sample in five is held out:
never trained on, it measures whether a retrain learnt the style or only the
samples.

Every sample has a review state: ``NEW`` (public corrections arrive so),
``ACCEPTED`` (the operator's own, imported ones, and what review accepts) or
``REJECTED``. Retraining and the held-out measure read accepted samples (a
retrain may add the new ones); rejected ones never train. A label is a digit,
or ``NOT_A_DIGIT`` (sent as "none"), which is never trained on as a digit.
"""

import hashlib
import hmac
import secrets
import time

import numpy as np
from flask import current_app
from flask_babel import gettext
from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select, update

from .db import IdempotencyKey, Sample, db

DIGITS = tuple(str(d) for d in range(10))
NOT_A_DIGIT = 10          # the stored label of "not a digit"; sent and answered as "none"
NONE_WORD = "none"
NEW, ACCEPTED, REJECTED = "new", "accepted", "rejected"
STATES = (NEW, ACCEPTED, REJECTED)


class SampleError(ValueError):
    """A refused sample or change; ``str()`` says what to send instead."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def parse_label(value):
    """A label as sent ("7", "none", or a form's list of them) → 7, or ``NOT_A_DIGIT``.

    Anything but exactly one ASCII digit or the word "none" (" 7", "٣", "10", two
    labels) is refused with a message.
    """
    if isinstance(value, (list, tuple)):
        if len(value) > 1:
            raise SampleError(gettext("The label came %(num)s times: send one digit from 0 to 9, "
                                      "or none.", num=len(value)))
        value = value[0] if value else None
    value = "" if value is None else str(value)
    if value == NONE_WORD:
        return NOT_A_DIGIT
    if value not in DIGITS:
        shown = f"{value[:12]!r}{'…' if len(value) > 12 else ''}" if value else gettext("nothing")
        raise SampleError(gettext("The label must be one digit from 0 to 9, or none (not a "
                                  "digit); got %(value)s.", value=shown))
    return int(value)


def label_value(label):
    """A stored label as the API answers it: the digit, or "none"."""
    return NONE_WORD if label == NOT_A_DIGIT else label


def client_key(address):
    """A keyed hash of a client's address (16 hex digits): the same address gives the same
    key under one ``SECRET_KEY``, and the key gives nothing back without that secret."""
    if not address:
        return None
    key = hmac.new(str(current_app.config["SECRET_KEY"]).encode(), b"digits client key",
                   hashlib.sha256).digest()
    return hmac.new(key, address.encode(), hashlib.sha256).hexdigest()[:16]


USAGE_SECONDS = 10        # how long a process trusts its last sum of the stored bytes


def store(upload, upload_type, image, label, predicted, model_version, source, state=NEW,
          client=None, remember=None, **tags):
    """Store one labelled drawing: the ``upload`` (its canonical PNG), its 28×28 ``image`` in
    [0, 1], what the model serving ``model_version`` read (``predicted``), its review
    ``state`` and sender's ``client_key``; held out at random. ``tags`` are a class's
    drawing's ``classroom_id`` and ``student_id``.

    ``remember(sample)``, if given, returns rows committed with the sample (an idempotency
    key's answer), so both are stored or neither.
    """
    if state not in STATES:
        raise ValueError(f"state must be one of {STATES}, not {state!r}")
    sample = Sample(label=label, predicted=predicted, model_version=model_version,
                    source=source, upload=upload, upload_type=upload_type,
                    pixels=to_pixels(image), state=state, client=client,
                    held_out=secrets.randbelow(100) < current_app.config["HOLD_OUT_PERCENT"],
                    **tags)
    db.session.add(sample)
    if remember is not None:
        db.session.flush()
        db.session.add_all(remember(sample))
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    usage_cache()["bytes"] += len(upload) + len(sample.pixels)
    return sample


def usage_cache():
    return current_app.extensions.setdefault("digits_samples_usage", {"at": -USAGE_SECONDS,
                                                                      "bytes": 0, "count": 0})


def usage():
    """How full the sample store is: ``{"samples", "bytes", "limit_bytes", "percent",
    "full"}``, the sum read afresh at most every ``USAGE_SECONDS`` per process."""
    cached = usage_cache()
    if time.monotonic() - cached["at"] > USAGE_SECONDS:
        count, size = db.session.execute(select(
            func.count(), func.coalesce(func.sum(func.length(Sample.upload)
                                                 + func.length(Sample.pixels)), 0))).one()
        db.session.commit()
        cached.update(at=time.monotonic(), bytes=int(size), count=int(count))
    limit = current_app.config["SAMPLES_STORAGE_MB"] * 2**20
    return {"samples": cached["count"], "bytes": cached["bytes"], "limit_bytes": limit,
            "percent": round(100 * cached["bytes"] / limit, 1) if limit else None,
            "full": cached["bytes"] >= limit}


def answer_for(key, fingerprint):
    """The stored first answer under Idempotency-Key ``key``, if still kept:
    ``(status, answer)``; a different request under the same key is a 422."""
    row = db.session.get(IdempotencyKey, key)
    row = row and (row.at, row.fingerprint, row.status, row.answer)
    db.session.commit()           # read before: a commit expires the row, and reading it again
    hours = current_app.config["IDEMPOTENCY_HOURS"]   # would begin a transaction that waits
    if row is None or row[0] < time.time() - hours * 3600:
        return None
    at, stored_fingerprint, status, answer = row
    if stored_fingerprint != fingerprint:
        raise SampleError(f"The Idempotency-Key {key!r} was used for a different sample in the "
                          f"last {hours:g} hours: use a new key for a new sample.", 422)
    return status, answer


def remembered(key, fingerprint, status, answer):
    """The row that keeps ``answer`` under ``key`` (replacing an expired one)."""
    db.session.execute(sql_delete(IdempotencyKey).where(
        IdempotencyKey.at < time.time() - current_app.config["IDEMPOTENCY_HOURS"] * 3600))
    return IdempotencyKey(key=key, fingerprint=fingerprint, at=time.time(), status=status,
                          answer=answer)


def to_pixels(image):
    """A 28×28 image in [0, 1] → 784 bytes (0..255), as stored."""
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8).tobytes()


def image(sample):
    """A stored sample's 28×28 image, uint8 (28, 28), white ink on black (before deskewing)."""
    return np.frombuffer(sample.pixels, dtype=np.uint8).reshape(28, 28)


def _set(held_out, states, classroom_id=None):
    """Digits in or out of the held-out set, in ``states``: the public's (no class's), or
    with ``classroom_id`` that class's alone (a class's drawings teach its own model)."""
    in_class = Sample.classroom_id.is_(None) if classroom_id is None else \
        Sample.classroom_id == classroom_id
    rows = db.session.execute(select(Sample.pixels, Sample.label)
                              .where(Sample.held_out == held_out, Sample.state.in_(states),
                                     Sample.label != NOT_A_DIGIT, in_class)
                              .order_by(Sample.id)).all()
    images = np.frombuffer(b"".join(r.pixels for r in rows), dtype=np.uint8).reshape(-1, 28, 28)
    return images, np.array([r.label for r in rows], dtype=np.int64)


def training_set(include_new=False, *, classroom_id=None):
    """The digits that may be trained on: accepted (and with ``include_new`` the new ones
    too), never rejected, held out or not-a-digit; the public's, or one class's.
    ``(images uint8 (n, 28, 28), labels (n,))``."""
    return _set(False, (ACCEPTED, NEW) if include_new else (ACCEPTED,), classroom_id)


def held_out_set(*, classroom_id=None):
    """The accepted held-out digits, never trained on: ``(images uint8 (n, 28, 28), labels (n,))``."""
    return _set(True, (ACCEPTED,), classroom_id)


def counts():
    """Samples per digit, a list of 10 ints (not-a-digit ones are in ``state_counts``)."""
    per_label = dict(db.session.execute(select(Sample.label, func.count())
                                        .group_by(Sample.label)).all())
    return [per_label.get(d, 0) for d in range(10)]


def state_counts():
    """``{"new": n, "accepted": n, "rejected": n, "not_a_digit": n}``."""
    per_state = dict(db.session.execute(select(Sample.state, func.count())
                                        .group_by(Sample.state)).all())
    not_a_digit = db.session.scalar(select(func.count()).select_from(Sample)
                                    .where(Sample.label == NOT_A_DIGIT))
    return {**{state: per_state.get(state, 0) for state in STATES}, "not_a_digit": not_a_digit}


def set_state(state, ids=None, client=None, only_new=False):
    """Put the samples ``ids`` (or every one from ``client``, or with neither every new
    one) in ``state``; ``only_new`` leaves the reviewed alone. Returns how many changed."""
    if state not in STATES:
        raise SampleError(f"A state is new, accepted or rejected, not {state!r}.")
    where = [Sample.state != state]
    if ids is not None:
        where.append(Sample.id.in_(list(ids)))
    if client is not None:
        where.append(Sample.client == client)
    if only_new or (ids is None and client is None):
        where.append(Sample.state == NEW)
    changed = db.session.execute(update(Sample).where(*where).values(state=state)).rowcount
    db.session.commit()
    return changed


def page(number, per_page=24):
    """``(samples, total)``: page ``number`` (from 1) of every sample, newest first."""
    total = db.session.scalar(select(func.count()).select_from(Sample))
    rows = db.session.scalars(select(Sample).order_by(Sample.id.desc())
                              .offset((max(number, 1) - 1) * per_page).limit(per_page)).all()
    return rows, total


def get(sample_id):
    sample = db.session.get(Sample, sample_id)
    if sample is None:
        raise SampleError(gettext("There is no sample %(id)s: it may have been deleted.",
                                  id=sample_id), 404)
    return sample


def relabel(sample_id, label):
    """The operator's label for a sample: it is accepted with it."""
    sample = get(sample_id)
    sample.label = parse_label(label)
    sample.state = ACCEPTED
    db.session.commit()
    return sample


def delete(sample_id):
    get(sample_id)
    db.session.execute(sql_delete(Sample).where(Sample.id == sample_id))
    db.session.commit()
