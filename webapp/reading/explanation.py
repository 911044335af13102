"""Why the network read a drawing: the numbers ``POST /api/v1/explain`` and the page's panels show.

``model.explain`` holds the maths (integrated gradients from the blank input,
one unit's sums); this module applies it to one ``core.served.Reading``: the
digit to explain (the reading unless the asker names another: "why not 7?"),
the hidden unit to open (the strongest unless named), and checks of both
that a person can act on (a 400 saying what to send). The input is the
reading's own ``seen`` vector, the one the first layer multiplied, so the
attribution, the unit's contributions and its z are the network's own
numbers on exactly what it read. The pictures are 28×28 PNG data URLs in a
colour-blind-safe diverging palette (orange for, blue against), scaled to
the picture's own largest value.
"""

from dataclasses import dataclass

import numpy as np
from flask import abort
from flask_babel import gettext

from model import explain

from . import pictures

TOP_TERMS = 5                    # a unit's largest contributions shown as numbers

# Blue-orange (ColorBrewer PuOr's ends, safe for the common colour blindnesses):
# orange pushes towards the digit (or switches the unit on), blue away.
TOWARDS = np.array([230, 97, 1], dtype=np.float32)
AGAINST = np.array([33, 102, 172], dtype=np.float32)
PAPER = np.array([255, 255, 255], dtype=np.float32)
INK = np.array([205, 205, 205], dtype=np.float32)     # ink that pushes neither way: light grey


@dataclass(frozen=True)
class Explanation:
    """One reading explained: ``attribution`` for digit ``explained``, ``unit``'s arithmetic.

    ``x`` (784,) float32 is the input the first layer multiplied; ``reading`` the digit read;
    ``weights`` (784,) the unit's incoming weights w (its contributions are w ⊙ x).
    """

    reading: int
    explained: int
    x: np.ndarray
    attribution: explain.Attribution
    unit: explain.UnitArithmetic
    weights: np.ndarray

    @property
    def total(self):
        """Σ attribution: log p(explained | drawing) − log p(explained | blank), by quadrature."""
        return float(self.attribution.attribution.sum())

    def terms(self, k=TOP_TERMS):
        """The unit's ``k`` largest contributions, largest first: (i, row, column, w, x, w·x)."""
        products = self.unit.contributions
        return [(int(i), int(i) // 28, int(i) % 28, float(self.weights[i]), float(self.x[i]),
                 float(products[i])) for i in self.unit.largest(k)]


def digit_choice(value):
    """A request's ``digit``: None (absent, empty or "reading": explain the reading) or 0-9."""
    if value is None or value in ("", "reading"):
        return None
    if value not in tuple("0123456789"):
        abort(400, wrong_digit(value))
    return int(value)


def unit_choice(value, net):
    """A request's ``unit``: None (absent or empty: the strongest) or a first-layer unit index."""
    if value is None or value == "":
        return None
    last = net.sizes[1] - 1
    if not (value.isascii() and value.isdigit() and int(value) <= last):
        abort(400, wrong_unit(value, last))
    return int(value)


def wrong_digit(value):
    return gettext("digit must be a whole number from 0 to 9 (or 'reading'), not %(value)s.",
                   value=repr(value))


def wrong_unit(value, last):
    return gettext("unit must be a hidden unit's number from 0 to %(last)s, not %(value)s.",
                   last=last, value=repr(value))


def explain_reading(loaded, reading, digit=None, unit=None):
    """``Explanation`` of a ``Reading`` by ``loaded``'s network; digit/unit None = the defaults."""
    net = loaded.exact
    if len(net.sizes) < 3:
        abort(400, gettext("This model has no hidden layer, so there is no unit to explain."))
    x = reading.seen.reshape(-1)
    explained = reading.digit if digit is None else digit
    if unit is None:            # explain.strongest_unit's choice, from the reading's own a_1
        unit = int(np.argmax(reading.hidden[0]))
    return Explanation(reading=reading.digit, explained=explained, x=x,
                       attribution=explain.attribution(net, x, explained),
                       unit=explain.unit_arithmetic(net, x, unit), weights=net.weights[0][:, unit])


# -- pictures -------------------------------------------------------------------

def signed_colours(values, base):
    """Signed values (784,) over ``base`` colours (784, 3) → RGB uint8 (28, 28, 3).

    Orange for positive, blue for negative, blended in by the value's size
    relative to the picture's largest (square-rooted, so the weaker half shows).
    """
    scale = float(np.abs(values).max()) or 1.0
    t = np.sqrt(np.abs(values) / scale).astype(np.float32)[:, None]
    colour = np.where(values[:, None] >= 0, TOWARDS, AGAINST)
    mixed = base + t * (colour - base)
    return mixed.reshape(28, 28, 3).round().astype(np.uint8)


def ink_base(x):
    """Paper white, ink light grey: the drawing under the colours, so its shape still shows."""
    ink = np.clip(np.asarray(x, dtype=np.float32), 0, 1)[:, None]
    return PAPER + ink * (INK - PAPER)


def attribution_url(explanation):
    """The attribution over the picture the network saw, as a PNG data URL."""
    return pictures.png_data_url(signed_colours(explanation.attribution.attribution,
                                                ink_base(explanation.x)))


def contributions_url(explanation):
    """The unit's contributions w ⊙ x over the same picture, as a PNG data URL."""
    return pictures.png_data_url(signed_colours(explanation.unit.contributions,
                                                ink_base(explanation.x)))


def as_json(explanation):
    """The explanation's part of ``POST /api/v1/explain``'s answer, full float64 precision."""
    a, u = explanation.attribution, explanation.unit
    return {
        "explained": explanation.explained,
        "attribution": a.attribution.reshape(28, 28),
        "score": {"drawing": a.score.drawing, "blank": a.score.blank},
        "unit": {"index": u.unit, "z": u.z, "bias": u.bias, "activation": u.activation,
                 "contributions": u.contributions.reshape(28, 28), "votes": u.votes},
    }
