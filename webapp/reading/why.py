"""The draw page's "Why this answer" and "One unit's arithmetic" panels, and the dreams' pictures.

While the panels are open, ``static/explain.js`` adds two fields to every
drawing the canvas sends: ``explain`` (``reading`` or a digit 0-9: "why
not 8?") and ``unit`` (a hidden unit, or empty for the strongest). The
reading's fragment then carries both panels too, swapped out of band into
the page (``partials/_explanation.html``, ``partials/_unit.html``), so the
explanation follows the pen in the same request as the reading. Without the
field nothing is explained and nothing is added. ``GET /dream/<digit>.png``
is a dream as a picture for the page's dreams panel (``partials/_dreams.html``).
"""

import functools
import math
from dataclasses import dataclass

import numpy as np
from flask import Blueprint, current_app, render_template, request

from ..core.served import get_model
from ..i18n import percent
from . import dreams, explanation, pictures

bp = Blueprint("why", __name__)


@dataclass(frozen=True)
class Bar:
    """One signed number as a bar on a middle line (viewBox "0 -1 1 2"): up for, down against."""

    value: float
    top: float
    height: float


def bars(values):
    """Values (k,) → ``Bar`` each, scaled by the largest in size."""
    values = np.asarray(values, dtype=np.float64)
    scale = float(np.abs(values).max()) or 1.0
    return [Bar(float(v), round(min(0.0, -v / scale), 3), round(abs(v) / scale, 3))
            for v in values]


@dataclass(frozen=True)
class Panels:
    """What the two panels show about one explained reading (the templates' ``why``)."""

    e: explanation.Explanation
    attribution_url: str
    contributions_url: str
    units: int
    activation: str         # the hidden layer's: "sigmoid" (a = σ(z)) or "relu" (a = max(0, z))
    cost: str
    hidden_layers: int      # with more than one, a unit's votes go to layer 2, not the output

    @property
    def softmax(self):
        """True when the output layer is a softmax (cross-entropy); else sigmoids, normalised."""
        return self.cost == "cross_entropy"

    @property
    def asks_why_not(self):
        return self.e.explained != self.e.reading

    @property
    def score(self):
        return self.e.attribution.score

    @property
    def weighted_sum(self):
        """w·x: Σ of the unit's 784 contributions (z without the bias)."""
        return float(self.e.unit.contributions.sum())

    @functools.cached_property
    def votes(self):
        return bars(self.e.unit.votes)

    @functools.cached_property
    def terms(self):
        """The largest w·x terms as the table shows them: (pixel, "row, column", w, x, w × x)."""
        return [(i, f"{row}, {column}", f"{w:+.4f}", f"{x:.4f}", f"{product:+.4f}")
                for i, row, column, w, x, product in self.e.terms()]

    @functools.cached_property
    def outputs(self):
        """(digit, this unit's vote, output z, p) for each digit, as the table shows them.

        Formatted here, not in the template: forty numbers through Jinja's
        ``format`` filter cost a tenth of a millisecond more per reading.
        """
        u = self.e.unit
        return [(k, f"{u.votes[k]:+.2f}", f"{u.output_z[k]:.2f}", f"{u.probabilities[k]:.3f}")
                for k in range(len(u.votes))]

    @property
    def others(self):
        """z of the explained digit's output without this unit's vote: what the unit added."""
        u = self.e.unit
        return float(u.output_z[self.e.explained] - u.votes[self.e.explained])


def requested(form, net):
    """The canvas form's ``(digit, unit)`` choices, or None when the panels are closed."""
    if "explain" not in form:
        return None
    unit = form.get("unit", "")
    if unit.isdigit() and int(unit) >= net.sizes[1]:
        unit = ""        # chosen on a larger model, since promoted away: show the strongest
    return explanation.digit_choice(form.get("explain")), explanation.unit_choice(unit, net)


def panels(loaded, reading, digit=None, unit=None):
    """``Panels`` for a ``Reading`` (None for a blank drawing: the panels' empty state)."""
    if reading is None:
        return None
    e = explanation.explain_reading(loaded, reading, digit, unit)
    net = loaded.net
    return Panels(e=e, attribution_url=explanation.attribution_url(e),
                  contributions_url=explanation.contributions_url(e), units=net.sizes[1],
                  activation=net.activation, cost=net.cost, hidden_layers=len(net.sizes) - 2)


@bp.app_template_filter("two_places")
def two_places(value):
    """A number with two decimals, never "-0.00" (a log-probability of −0.001 reads 0.00)."""
    return f"{round(float(value), 2) + 0.0:.2f}"


@bp.app_template_filter("exp_percent")
def exp_percent(log_p):
    """A log-probability as the page shows probabilities: −0.01 → ">99%", −12.3 → "<1%"."""
    return percent(math.exp(log_p))


def live_panels(loaded, reading):
    """Both panels as out-of-band swaps for the reading's fragment (HTML), or "" when not asked."""
    choice = requested(request.form, loaded.net)
    if choice is None or len(loaded.net.sizes) < 3:   # no hidden layer: no unit to open
        return ""
    why = panels(loaded, reading, *choice)
    return (render_template("partials/_explanation.html", why=why, fragment=True)
            + render_template("partials/_unit.html", why=why, fragment=True))


@bp.get("/dream/<digit>.png")
def dream_picture(digit):
    """The served model's dream of ``digit`` as a 28×28 PNG, dark ink on white, cached."""
    digit = dreams.digit_of(digit)
    loaded = get_model()
    found = dreams.get_dream(loaded, digit)
    response = current_app.response_class(pictures.ink_png(found.image.reshape(28, 28)),
                                          mimetype="image/png")
    response.set_etag(f"model-{loaded.version}-dream-{digit}")
    response.headers["Cache-Control"] = "no-cache"          # a promotion changes it: revalidate
    response.headers["X-Dream-Probability"] = f"{found.probabilities[digit]:.4f}"
    return response.make_conditional(request)
