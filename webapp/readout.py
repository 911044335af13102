"""What the page shows about one drawing: the values ``partials/_prediction.html`` lays out.

A ``Readout`` is built from the network's ``Reading`` (or a blank drawing, or
an error message) and holds plain numbers: the verdict, ten probabilities,
every hidden unit's activation with its place in the unit grid, and the
28×28 picture the network saw. The page, the htmx fragment and the error
handlers all render the same partial from it.
"""

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
from flask import render_template

from . import pictures
from .preprocess import BLANK
from .served import get_model

STRONGEST = 10       # units highlighted per hidden layer


BAR_SPAN = 0.85      # of a grid cell's height, for an activation of 1
BAR_WIDTH = 0.7      # of a grid cell's width


@dataclass(frozen=True)
class Unit:
    """One hidden unit: its cell (``column``, ``row``) in the layer's grid and its bar.

    The bar stands on the cell's floor: ``bar_y`` is its top, ``bar_height``
    at most ``BAR_SPAN`` (both in cell units, for the SVG's viewBox).
    """

    index: int
    value: float
    column: int
    row: int
    strong: bool
    bar_height: float

    bar_width = BAR_WIDTH

    @property
    def bar_x(self):
        return round(self.column + (1 - BAR_WIDTH) / 2, 3)

    @property
    def bar_y(self):
        return round(self.row + (1 + BAR_SPAN) / 2 - self.bar_height, 3)


@dataclass(frozen=True)
class Layer:
    units: list
    columns: int
    rows: int
    strongest: int      # how many units are flagged strong (0 for a blank drawing)


@dataclass(frozen=True)
class Readout:
    """``state`` is "sure", "unsure", "blank" or "error"; ``digit`` is None unless a guess."""

    state: str
    digit: int | None = None
    confidence: float = 0.0
    runner_up: int | None = None
    runner_up_probability: float = 0.0
    probabilities: tuple = (0.0,) * 10
    layers: tuple = ()
    seen_url: str = ""
    message: str = ""
    seq: int = 0
    model_version: str = ""


def layer(values, strongest=STRONGEST):
    """Activations (units,) → ``Layer`` in a near-square grid, the ``strongest`` flagged.

    Bar heights are the activations when they lie in [0, 1] (sigmoid), else
    scaled by the layer's largest one (ReLU).
    """
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    columns = math.ceil(math.sqrt(n))
    scale = max(1.0, float(values.max(initial=0)))
    strong = set(np.argsort(-values, kind="stable")[:strongest].tolist()) if values.any() else set()
    units = [Unit(index=i, value=float(v), column=i % columns, row=i // columns,
                  strong=i in strong, bar_height=round(BAR_SPAN * max(0.0, v) / scale, 3))
             for i, v in enumerate(values)]
    return Layer(units=units, columns=columns, rows=math.ceil(n / columns), strongest=len(strong))


@cache
def blank_picture():
    return pictures.ink_data_url(np.zeros((28, 28), dtype=np.float32))


def quiet(loaded, state, message, seq=0):
    """A readout without a guess ("blank" or "error"): empty bars, a blank picture."""
    return Readout(state=state, message=message, seq=seq, model_version=loaded.version,
                   layers=tuple(layer(np.zeros(n)) for n in loaded.hidden_sizes),
                   seen_url=blank_picture())


def read(loaded, digit, unsure_below=0.6, seq=0):
    """The readout for a ``preprocess.Digit`` under the ``served.Loaded`` model."""
    if digit.image is None:
        return quiet(loaded, "blank", "" if digit.blank == BLANK else digit.blank, seq)
    reading = loaded.read(digit.image)
    p = reading.probabilities
    return Readout(
        state="sure" if reading.confidence >= unsure_below else "unsure",
        digit=reading.digit, confidence=reading.confidence, runner_up=reading.runner_up,
        runner_up_probability=float(p[reading.runner_up]),
        probabilities=tuple(float(v) for v in p),
        layers=tuple(layer(h) for h in reading.hidden),
        seen_url=pictures.ink_data_url(reading.seen), seq=seq, model_version=loaded.version)


def blank(seq=0):
    return quiet(get_model(), "blank", "", seq)


def failed(message, seq=0):
    return quiet(get_model(), "error", message, seq)


def render_fragment(readout):
    """The partial alone, its verdict marked for htmx's out-of-band swap into the live region."""
    return render_template("partials/_prediction.html", r=readout, fragment=True)
