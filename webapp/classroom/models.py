"""Which model reads for each class, kept in memory per process: bounded, following changes.

A class reads with its own taught model once it has one, and with the promoted
model (``core.served``) until then. Each web process keeps, like
``core.served`` for the public page:

- the state of the classes it serves (open or ended, their model version, their
  language), read from the database at most once per ``MODEL_CHECK_SECONDS``
  per class, so an ended class or a newly taught model shows within a second
  in every process; and
- the model versions those classes use, at most ``CLASS_MODELS_KEPT`` of them,
  the least recently used dropped first. A version's weights never change, so
  a loaded one stays right for as long as it is kept.

Both live on ``app.extensions``, one per app; lookups take a lock only to
touch the dictionaries, never while reading the database or loading weights.
"""

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from flask import current_app, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..core import registry
from ..core.db import Classroom, ModelVersion, as_utc, db, utcnow
from ..core.served import Loaded, get_model
from ..i18n import prefer

CLASSES_KEPT = 256      # class states remembered per process (a few bytes each)


@dataclass(frozen=True)
class ClassState:
    id: int
    code: str
    name: str
    ends_at: datetime
    ended: datetime | None
    language: str | None
    model_version_id: int | None

    @property
    def over(self):
        return self.ended is not None or self.ends_at <= utcnow()


class ClassModels:
    """One process's class states and loaded class models."""

    def __init__(self, check_seconds, kept):
        self.check_seconds = float(check_seconds)
        self.kept = max(1, int(kept))
        self._lock = threading.Lock()
        self._states = OrderedDict()        # code → (read at, ClassState or None)
        self._versions = OrderedDict()      # version id → Loaded

    def state(self, code):
        """The class with join code ``code`` as the database said at most a check ago."""
        now = time.monotonic()
        with self._lock:
            known = self._states.get(code)
        if known is not None and now - known[0] < self.check_seconds:
            return known[1]
        state = read_state(code)
        with self._lock:
            self._states[code] = (now, state)
            self._states.move_to_end(code)
            while len(self._states) > CLASSES_KEPT:
                self._states.popitem(last=False)
        return state

    def forget(self, code):
        """Read the class afresh next time (this process just changed it)."""
        with self._lock:
            self._states.pop(code, None)

    def loaded(self, version_id):
        """The model version ``version_id`` as a ``Loaded``, from memory when kept."""
        with self._lock:
            loaded = self._versions.get(version_id)
            if loaded is not None:
                self._versions.move_to_end(version_id)
                return loaded
        with Session(db.engine.execution_options(read_only=True)) as session:
            net, meta = registry.load_version(session.get(ModelVersion, version_id))
        loaded = Loaded(net=net, meta=meta, version=version_id)
        with self._lock:
            self._versions[version_id] = loaded
            while len(self._versions) > self.kept:
                self._versions.popitem(last=False)
        return loaded

    def kept_versions(self):
        with self._lock:
            return list(self._versions)


def read_state(code):
    with Session(db.engine.execution_options(read_only=True)) as session:
        row = session.scalar(select(Classroom).where(Classroom.code == code))
        if row is None:
            return None
        return ClassState(id=row.id, code=row.code, name=row.name, ends_at=as_utc(row.ends_at),
                          ended=as_utc(row.ended), language=row.language,
                          model_version_id=row.model_version_id)


def init_app(app):
    app.extensions["digits_class_models"] = ClassModels(app.config["MODEL_CHECK_SECONDS"],
                                                        app.config["CLASS_MODELS_KEPT"])


def speak_the_class_language():
    """``before_request`` of the class's blueprints: its pages, the students' and the
    teacher's, speak the language its teacher set, over the browser's; a visitor's own
    choice on the switch still wins (webapp.i18n)."""
    language = language_for_request()
    if language:
        prefer(language)


def class_models():
    return current_app.extensions["digits_class_models"]


def model_for(state):
    """The ``Loaded`` model that reads for the class ``state``: its own, else the promoted
    one. A class model that no longer loads (deleted) falls back to the promoted one."""
    if state.model_version_id is None:
        return get_model()
    try:
        return class_models().loaded(state.model_version_id)
    except Exception as exc:        # a version deleted meanwhile, or damaged
        current_app.logger.error("class %s: model version %s does not load (%s); reading "
                                 "with the promoted model", state.code, state.model_version_id,
                                 str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return get_model()


def language_for_request():
    """The language the teacher set for the class this request is for (a student's page or
    the teacher's), or None: for the i18n locale selector, before the browser's own."""
    code = (request.view_args or {}).get("code")
    if code is None or request.blueprint not in ("classroom", "classes"):
        return None
    state = class_models().state("".join(str(code).split()).upper()[:16])
    return state.language if state is not None else None
