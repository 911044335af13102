"""What the class board shows: the wall of latest drawings, and how well the network reads
this class (accuracy, confusion matrix, the digits it misreads most).

The numbers come from the class's corrections and confirmations (its labelled
samples, rejected ones left out): each holds what the network read when the
student drew it and the digit the student said it was.
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from flask_babel import gettext
from sqlalchemy import select

from ..core import samples
from ..core.db import Sample, db
from ..reading import pictures

MISREAD_SHOWN = 3
PICTURES_KEPT = 512        # ~500 bytes each, per process


@dataclass(frozen=True)
class Tile:
    """One student's latest drawing on the wall."""

    student_id: int
    nickname: str
    picture: str            # a PNG data URL of the 28×28 drawing
    digit: int
    confidence: float
    version: int


@lru_cache(maxsize=PICTURES_KEPT)
def ink(pixels):
    """784 stored bytes (white ink on black) → the picture's PNG data URL (dark on white).
    Kept for the next poll: a wall of 40 redraws only the drawings that changed."""
    return pictures.ink_data_url(np.frombuffer(pixels, dtype=np.uint8).reshape(28, 28) / 255)


def wall(students):
    """Tiles for the students who drew, newest drawing first."""
    drawn = [s for s in students if s.latest_pixels is not None]
    drawn.sort(key=lambda s: s.latest_at, reverse=True)
    return [Tile(student_id=s.id, nickname=s.nickname or gettext("Student %(id)s", id=s.id),
                 picture=ink(s.latest_pixels), digit=s.latest_digit,
                 confidence=s.latest_confidence or 0.0, version=s.latest_version)
            for s in drawn]


@dataclass(frozen=True)
class Scores:
    """``n`` labelled drawings, ``accuracy`` (None when none), ``confusion`` rows: the digit
    drawn, columns: the digit read; ``misread``: (digit, wrong, drawn, most read as)."""

    n: int
    accuracy: float | None
    confusion: list
    misread: list


def scores(classroom_id):
    rows = db.session.execute(select(Sample.label, Sample.predicted)
                              .where(Sample.classroom_id == classroom_id,
                                     Sample.state == "accepted",
                                     Sample.label != samples.NOT_A_DIGIT,
                                     Sample.predicted.is_not(None))).all()
    confusion = np.zeros((10, 10), dtype=np.int64)
    for label, predicted in rows:
        confusion[label, predicted] += 1
    n = int(confusion.sum())
    accuracy = float(np.trace(confusion) / n) if n else None
    misread = []
    for digit in range(10):
        drawn = int(confusion[digit].sum())
        wrong = drawn - int(confusion[digit, digit])
        if wrong:
            others = confusion[digit].copy()
            others[digit] = -1
            misread.append((digit, wrong, drawn, int(others.argmax())))
    misread.sort(key=lambda m: (-m[1], -m[1] / m[2], m[0]))
    return Scores(n=n, accuracy=accuracy, confusion=confusion.tolist(),
                  misread=misread[:MISREAD_SHOWN])
