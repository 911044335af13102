"""What the page shows about one drawing: the values ``partials/_prediction.html`` lays out.

A ``Readout`` is built from the network's ``Reading`` (or a blank drawing, or
an error message) and holds plain numbers: the verdict, ten probabilities,
every hidden unit's activation with its place in the unit grid, and the
28×28 picture the network saw. The page, the htmx fragment and the error
handlers all render the same partial from it.

The unit grids are the bulk of a reading (a tile and a bar per unit, 256 in
the shipped model). The page draws them once; after that the canvas says
which grids its page holds (the form field ``grid``), and a fragment for the
same layout carries the bars as numbers only, which ``static/draw.js`` sets
on the grids in place: no tiles rendered here, none rebuilt in the browser.
"""

import math
from dataclasses import dataclass, replace
from functools import cache

import numpy as np
from flask import render_template, request
from flask_babel import gettext
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException

from ..core.served import get_model
from . import pictures
from .normalise import BLANK

STRONGEST = 10       # units highlighted per hidden layer
CELL_INSET = 0.06    # of a grid cell, the gap around each unit's tile
BAR_SPAN = 0.8       # of a grid cell's height, for an activation of 1
BAR_WIDTH = 0.7      # of a grid cell's width


@dataclass(frozen=True)
class Layer:
    """One hidden layer's activations laid out as a near-square grid of bars.

    ``heights`` (units,) are bar heights in [0, 1]; ``strong`` the indices of
    the strongest units (none for a blank drawing).
    """

    values: np.ndarray
    heights: np.ndarray
    strong: frozenset
    columns: int
    rows: int

    def svg(self, neuron_url=None):
        """The units as SVG markup for ``<svg viewBox="0 0 columns rows">``: a tile per unit,
        then every unit's bar in one path (the strongest again, in a second one on top).

        Each unit is a tile named by an ``aria-label`` with its value (the page
        shows it on hover and focus); with ``neuron_url`` (e.g. "/neuron/") it
        is a link to the unit's weights. The bars are two ``<path>`` elements,
        one rectangle per unit in unit order (of height 0 when the unit is off),
        so a new reading changes two attributes, not hundreds: ``draw.js``
        writes the same paths from the section's numbers (``bar_paths``).
        Written here rather than in the template: hundreds of units with a
        dozen attributes each made Jinja the slowest step of a live reading;
        every value is a number made here. No ``<title>`` per unit: a thousand
        fewer nodes.
        """
        link = str(escape(neuron_url)) if neuron_url else None
        tile = 1 - 2 * CELL_INSET
        parts = []
        unit_label = gettext("Unit %(unit)s: %(value)s")     # once: hundreds of units follow
        for i, value in enumerate(self.values.tolist()):
            column, row = i % self.columns, i // self.columns
            kind = "unit is-strong" if i in self.strong else "unit"
            body = (f'<rect class="cell" x="{column + CELL_INSET:.2f}" y="{row + CELL_INSET:.2f}" '
                    f'width="{tile:.2f}" height="{tile:.2f}"/>')
            label = f'aria-label="{escape(unit_label % {"unit": i, "value": f"{value:.2f}"})}"'
            if link:
                parts.append(f'<a href="{link}{i}" class="{kind}" data-unit="{i}" {label} '
                             f'tabindex="{-1 if i else 0}">{body}</a>')
            else:
                parts.append(f'<g class="{kind}" role="img" {label}>{body}</g>')
        every, strongest = self.bar_paths()
        parts.append(f'<path class="bars" d="{every}"/><path class="bars strongest" d="{strongest}"/>')
        return Markup("".join(parts))

    def bar_paths(self):
        """(every unit's bar, the strongest units' bars) as SVG path data: for each unit in
        order ``M x floor v -height h width v height z``, up from its cell's floor, its
        height as ``numbers`` writes it."""
        inset = (1 - self.bar_width) / 2
        pieces = []
        for i, height in enumerate(fixed_text(self.heights, 3).split(" ")):
            column, row = i % self.columns, i // self.columns
            pieces.append(f"M{column + inset:.3f} {row + self.floor:.3f}"
                          f"v-{height}h{self.bar_width}v{height}z")
        return "".join(pieces), "".join(pieces[i] for i in sorted(self.strong))

    @property
    def bar_width(self):
        """A bar's width, as a fraction of its grid cell's."""
        return BAR_WIDTH

    @property
    def floor(self):
        """Where a bar stands in its grid cell, as a fraction of the cell's height from the top."""
        return (1 + BAR_SPAN) / 2

    def numbers(self):
        """The bars as the fragment sends them for ``draw.js``: activations, heights, strongest.

        Space-separated strings, values with the two decimals of the units'
        labels, heights with the three of ``svg``'s geometry.
        """
        return {"activations": fixed_text(self.values, 2),
                "heights": fixed_text(self.heights, 3),
                "strong": " ".join(map(str, sorted(self.strong)))}


@cache
def fixed_table(places):
    """Every number from 0 to 1 in steps of 10^-places, as ``f"{x:.{places}f}"`` writes it."""
    return [f"{k / 10**places:.{places}f}" for k in range(10**places + 1)]


def fixed_text(values, places):
    """Values (n,) written with ``places`` decimals, space-separated: what joining
    ``f"{x:.{places}f}"`` gives, eight times faster for values in [0, 1] (a sigmoid's).

    Those are rounded by NumPy and looked up in ``fixed_table``. Where the
    rounding might differ from Python's (a value within 1e-6 of a tie), and for
    values outside [0, 1] or not numbers, every value is formatted by Python.
    """
    values = np.asarray(values, dtype=np.float64)
    scaled = values * 10**places
    if not (values.min(initial=0) >= 0 and values.max(initial=0) <= 1) or (
            np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6).any():
        return " ".join(map(f"{{:.{places}f}}".format, values.tolist()))
    table = fixed_table(places)
    return " ".join([table[k] for k in np.rint(scaled).astype(np.intp).tolist()])


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
    photo_url: str = ""      # a photo's cleaned picture (``photo.read_photo``), when it was one

    @property
    def grid(self):
        """The layout of the unit grids, e.g. "256" or "16-9": units per hidden layer."""
        return "-".join(str(len(layer.values)) for layer in self.layers)


def layer(values, strongest=STRONGEST):
    """Activations (units,) → ``Layer``, the ``strongest`` flagged.

    Bar heights are the activations when they lie in [0, 1] (sigmoid), else
    scaled by the layer's largest one (ReLU), times ``BAR_SPAN``.
    """
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    columns = math.ceil(math.sqrt(n))
    scale = max(1.0, float(values.max(initial=0)))
    strong = np.argsort(-values, kind="stable")[:strongest].tolist() if values.any() else []
    return Layer(values=values, heights=BAR_SPAN * np.maximum(values, 0) / scale,
                 strong=frozenset(strong), columns=columns, rows=math.ceil(n / columns))


@cache
def blank_picture():
    return pictures.ink_data_url(np.zeros((28, 28), dtype=np.float32))


def quiet(loaded, state, message, seq=0):
    """A readout without a guess ("blank" or "error"): empty bars, a blank picture."""
    return Readout(state=state, message=message, seq=seq, model_version=loaded.version,
                   layers=tuple(layer(np.zeros(n)) for n in loaded.hidden_sizes),
                   seen_url=blank_picture())


def read(loaded, digit, unsure_below, seq=0, reading=None, photo_url=None):
    """The readout for a ``normalise.Digit`` under the ``core.served.Loaded`` model.

    A confidence under ``unsure_below`` is shown as unsure, with the runner-up.
    ``reading`` is the network's ``Reading`` of it when the caller already has one;
    ``photo_url`` the picture a photo was read from, shown beside the 28×28 one.
    """
    if digit.image is None:
        quiet_readout = quiet(loaded, "blank", "" if digit.blank == str(BLANK) else digit.blank, seq)
        return replace(quiet_readout, photo_url=photo_url or "")
    reading = reading or loaded.read(digit.image)
    p = reading.probabilities
    return Readout(
        state="sure" if reading.confidence >= unsure_below else "unsure",
        digit=reading.digit, confidence=reading.confidence, runner_up=reading.runner_up,
        runner_up_probability=float(p[reading.runner_up]),
        probabilities=tuple(float(v) for v in p),
        layers=tuple(layer(h) for h in reading.hidden),
        seen_url=pictures.ink_data_url(reading.seen), seq=seq, model_version=loaded.version,
        photo_url=photo_url or "")


def blank(seq=0):
    return quiet(get_model(), "blank", "", seq)


def failed(message, seq=0):
    return quiet(get_model(), "error", message, seq)


def render_fragment(readout, **context):
    """The partial alone, its verdict marked for htmx's out-of-band swap into the live region.

    When the page already holds unit grids of this layout, they come empty and
    only their numbers are sent: the page keeps its grids in place
    (``static/draw.js``). ``context`` goes to the template (a class's page passes
    its ``class_code``).
    """
    return render_template("partials/_prediction.html", r=readout, fragment=True,
                           bars_only=held_grid() == readout.grid, **context)


def held_grid():
    """The unit-grid layout the canvas's page shows (its form field ``grid``), if it says."""
    try:
        return request.form.get("grid")
    except HTTPException:       # the body could not be read as a form (too large): no claim
        return None
