"""A class's rows: start one, find it by its join code, join it, end it, and delete all of it.

A class (``core.db.Classroom``) is what a teacher starts from the admin; its
students join with the short code, with no account and at most a nickname,
and each is a ``ClassStudent`` row that keeps its latest drawing for the
board. Their corrections are ordinary samples tagged with the class and the
student. ``delete`` removes every row that names the class, and what was
made from its drawings (its shared links, its taught models unless one is
being served to the public); the database's tests check each table.
"""

import re
import secrets
from datetime import timedelta

from flask_babel import gettext
from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select, update

from ..core.db import (Activation, Classroom, ClassStudent, ModelVersion, Sample, Serving,
                       SharedDrawing, TrainingRun, as_utc, db, utcnow)

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"    # no 0/O, no 1/I/L: read off a projector
CODE_LENGTH = 6
NICKNAME_MAX = 20
NAME_MAX = 60
LESSON_MINUTES = 45
MAX_MINUTES = 8 * 60
# A nickname is shown to the class as text: nothing that looks like markup or controls.
NOT_IN_A_NAME = re.compile(r"[<>&\"'`/\\=\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e]")


class ClassError(ValueError):
    """A refused class action; ``str()`` says what to do instead, ``status`` is its HTTP code."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


# -- starting, finding, ending ------------------------------------------------------------

def parse_minutes(value):
    text = str(value if value is not None else LESSON_MINUTES).strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_MINUTES:
        raise ClassError(gettext("The length of the lesson must be a whole number of minutes "
                                 "from 1 to %(max)s; got %(value)s.", max=MAX_MINUTES,
                                 value=repr(text[:12])))
    return int(text)


def parse_name(value):
    name = " ".join(str(value or "").split())
    if len(name) > NAME_MAX or NOT_IN_A_NAME.search(name):
        raise ClassError(gettext("The class's name must be at most %(max)s characters, without "
                                 "< > & quotes or slashes.", max=NAME_MAX))
    return name or gettext("A class")


def start(name="", minutes=LESSON_MINUTES, language=None):
    """A new class, open for ``minutes`` from now, with a fresh join code."""
    minutes, name = parse_minutes(minutes), parse_name(name)
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if db.session.scalar(select(Classroom.id).where(Classroom.code == code)) is None:
            break
    classroom = Classroom(code=code, name=name, language=language,
                          ends_at=utcnow() + timedelta(minutes=minutes))
    db.session.add(classroom)
    db.session.commit()
    return classroom


def normalise_code(code):
    return "".join(str(code or "").split()).upper()[:16]


def by_code(code):
    """The class with join code ``code`` (any case, spaces ignored); 404 if there is none."""
    code = normalise_code(code)
    classroom = db.session.scalar(select(Classroom).where(Classroom.code == code)) \
        if code else None
    if classroom is None:
        raise ClassError(gettext("There is no class with the code %(code)s: check the code on "
                                 "the board.", code=repr(code)), 404)
    return classroom


def is_over(classroom, now=None):
    return classroom.ended is not None or as_utc(classroom.ends_at) <= (now or utcnow())


def require_open(classroom):
    if is_over(classroom):
        raise ClassError(gettext("This class has ended: thank you for drawing. Ask your "
                                 "teacher for the next one."), 410)


def end(classroom):
    if classroom.ended is None:
        classroom.ended = utcnow()
        db.session.commit()
    return classroom


def recent():
    """The newest classes first, for the admin's list."""
    return db.session.scalars(select(Classroom).order_by(Classroom.id.desc()).limit(50)).all()


# -- students -----------------------------------------------------------------------------------

def parse_nickname(value):
    """A nickname as typed → the one stored ("" for none); refused if too long or markup."""
    if isinstance(value, (list, tuple)):
        if len(value) > 1:
            raise ClassError(gettext("The nickname came more than once: send one."))
        value = value[0] if value else ""
    nickname = " ".join(str(value or "").split())
    if NOT_IN_A_NAME.search(nickname):
        raise ClassError(gettext("A nickname is letters, digits and spaces: leave out < > & "
                                 "quotes, slashes and = signs."))
    if len(nickname) > NICKNAME_MAX:
        raise ClassError(gettext("A nickname has at most %(max)s characters; this one has "
                                 "%(num)s.", max=NICKNAME_MAX, num=len(nickname)))
    return nickname


def join(classroom, nickname):
    require_open(classroom)
    student = ClassStudent(classroom_id=classroom.id, nickname=parse_nickname(nickname))
    db.session.add(student)
    db.session.commit()
    return student


def student_of(classroom_id, student_id):
    student = db.session.get(ClassStudent, student_id) if student_id else None
    if student is None or student.classroom_id != classroom_id:
        return None
    return student


def record_latest(classroom_id, student_id, pixels, digit, confidence, version):
    """The student's newest finished drawing, for the board (one UPDATE)."""
    db.session.execute(update(ClassStudent)
                       .where(ClassStudent.id == student_id,
                              ClassStudent.classroom_id == classroom_id)
                       .values(latest_pixels=pixels, latest_digit=digit,
                               latest_confidence=confidence, latest_version=version,
                               latest_at=utcnow()))
    db.session.commit()


def students(classroom_id):
    return db.session.scalars(select(ClassStudent).where(ClassStudent.classroom_id == classroom_id)
                              .order_by(ClassStudent.id)).all()


# -- corrections and their review ---------------------------------------------------------------

def corrections(classroom_id, limit=None):
    query = select(Sample).where(Sample.classroom_id == classroom_id).order_by(Sample.id.desc())
    return db.session.scalars(query.limit(limit) if limit else query).all()


def class_sample(classroom_id, sample_id):
    sample = db.session.get(Sample, sample_id)
    if sample is None or sample.classroom_id != classroom_id:
        raise ClassError(gettext("There is no drawing %(id)s in this class.", id=sample_id), 404)
    return sample


def review(classroom_id, sample_id, state):
    """Reject a class's correction (it trains nothing), or accept it again."""
    if state not in ("accepted", "rejected"):
        raise ClassError(gettext("A correction is accepted or rejected."))
    sample = class_sample(classroom_id, sample_id)
    sample.state = state
    db.session.commit()
    return sample


def teachable(classroom_id):
    """How many of the class's corrections a teach run would learn from (accepted, not held
    out)."""
    return db.session.scalar(select(func.count()).select_from(Sample)
                             .where(Sample.classroom_id == classroom_id,
                                    Sample.state == "accepted", Sample.held_out.is_(False)))


def stamp(classroom_id):
    """A short text that changes whenever the board would: a poll that brings the same one
    back is answered 204, with nothing to render. One query."""
    of_class = Sample.classroom_id == classroom_id
    row = db.session.execute(select(
        select(func.count()).where(ClassStudent.classroom_id == classroom_id)
        .scalar_subquery(),
        select(func.max(ClassStudent.latest_at)).where(ClassStudent.classroom_id == classroom_id)
        .scalar_subquery(),
        select(func.count()).select_from(Sample).where(of_class).scalar_subquery(),
        select(func.max(Sample.id)).where(of_class).scalar_subquery(),
        select(func.count()).select_from(Sample).where(of_class, Sample.state == "rejected")
        .scalar_subquery(),
        select(Classroom.model_version_id).where(Classroom.id == classroom_id)
        .scalar_subquery())).one()
    students, latest, taught, newest, rejected, version = row
    moment = as_utc(latest).timestamp() if latest else 0
    return f"{students}-{moment:.3f}-{taught}-{newest or 0}-{rejected}-{version or 0}"


# -- deleting ------------------------------------------------------------------------------------

def delete(classroom):
    """Delete the class and everything of it, in one transaction.

    Its taught model versions go too, unless one is or was served to everyone (an admin
    promoted it): those stay as model versions, with nothing of the class left in them
    but the weights.
    """
    served = set(db.session.scalars(select(Serving.version_id))) | set(
        db.session.scalars(select(Activation.version_id)))
    versions = set(db.session.scalars(select(TrainingRun.version_id)
                                      .where(TrainingRun.classroom_id == classroom.id,
                                             TrainingRun.version_id.is_not(None))))
    if classroom.model_version_id:
        versions.add(classroom.model_version_id)
    cid = classroom.id
    db.session.execute(sql_delete(SharedDrawing).where(SharedDrawing.classroom_id == cid))
    db.session.execute(sql_delete(Sample).where(Sample.classroom_id == cid))
    db.session.execute(sql_delete(ClassStudent).where(ClassStudent.classroom_id == cid))
    db.session.execute(sql_delete(TrainingRun).where(TrainingRun.classroom_id == cid))
    db.session.execute(sql_delete(Classroom).where(Classroom.id == cid))
    kept = versions & served
    for version_id in versions - served:
        db.session.execute(sql_delete(ModelVersion).where(ModelVersion.id == version_id))
    for version_id in kept:
        db.session.execute(update(ModelVersion).where(ModelVersion.id == version_id)
                           .values(origin="a deleted class", run_id=None))
    db.session.commit()
