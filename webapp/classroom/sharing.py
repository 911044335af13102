"""One drawing shown large: the board's close-up, and a drawing shared by link.

A close-up reads the 28×28 picture again with the model that read it (the
class's or the promoted one), so its hidden bars and probabilities are the
network's own. A shared drawing is a link with a random token to one of the
class's saved drawings and the model version that read it; the class and
the teacher can open it, anyone once the teacher publishes it.
"""

import secrets

import numpy as np
from flask import current_app
from flask_babel import gettext
from sqlalchemy import select

from ..admin.auth import logged_in
from ..core.db import SharedDrawing, db
from ..reading import pictures, readout, why
from ..reading.normalise import Digit
from .lessons import ClassError
from .models import class_models

TOKEN_BYTES = 12


def teacher_logged_in():
    """Teachers are the admins: the admin's login is the teacher's."""
    return logged_in()


def image(pixels):
    return np.frombuffer(pixels, dtype=np.uint8).reshape(28, 28).astype(np.float32) / 255


def close_up(pixels, loaded):
    """``(readout.Readout, why.Panels)`` of stored pixels under the ``Loaded`` model: the
    reading with its bars, and its explanation (the draw page's "Why this answer")."""
    drawn = Digit(image=image(pixels))
    reading = loaded.read(drawn.image)
    return (readout.read(loaded, drawn, current_app.config["UNSURE_BELOW"], reading=reading),
            why.panels(loaded, reading))


def loaded_or_none(version_id):
    try:
        return class_models().loaded(version_id)
    except Exception:
        return None        # that version was deleted: the picture alone is shown


def share(sample):
    """A link to ``sample`` (a class's saved drawing); the same link when shared before."""
    existing = db.session.scalar(select(SharedDrawing).where(SharedDrawing.sample_id == sample.id))
    if existing is not None:
        return existing
    shared = SharedDrawing(token=secrets.token_urlsafe(TOKEN_BYTES), sample_id=sample.id,
                           classroom_id=sample.classroom_id, model_version=sample.model_version)
    db.session.add(shared)
    db.session.commit()
    return shared


def get(classroom_id, token):
    shared = db.session.get(SharedDrawing, str(token)[:32])
    if shared is None or shared.classroom_id != classroom_id:
        raise ClassError(gettext("There is no shared drawing at this address: it may have been "
                                 "deleted with its class."), 404)
    return shared


def of_class(classroom_id):
    return db.session.scalars(select(SharedDrawing)
                              .where(SharedDrawing.classroom_id == classroom_id)
                              .order_by(SharedDrawing.created.desc())).all()


def publish(classroom_id, token, published):
    shared = get(classroom_id, token)
    shared.published = bool(published)
    db.session.commit()
    return shared


def view(shared):
    """``{"label", "picture", "readout", "why"}`` for a shared drawing, read by the version
    it names (readout and why are None when that version is gone)."""
    sample = shared.sample
    loaded = loaded_or_none(shared.model_version)
    r, explained = close_up(sample.pixels, loaded) if loaded else (None, None)
    return {"label": sample.label, "picture": pictures.ink_data_url(image(sample.pixels)),
            "readout": r, "why": explained}
