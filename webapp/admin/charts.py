"""SVG geometry for the admin's charts: training curves and the confusion-matrix heatmap.

Only numbers come out of here (points, tick positions, opacities); the
templates in ``templates/admin/partials`` draw them, and ``static/admin.css``
colours them, so the page keeps its strict CSP (no inline style anywhere).
"""

import math

from flask_babel import gettext

from ..i18n import number, percent2

# The line charts' viewBox and plot area, in SVG units.
WIDTH, HEIGHT = 320, 172
LEFT, RIGHT, TOP, BOTTOM = 46, 308, 12, 140


def nice_ceiling(value):
    """The smallest of 1, 2, 2.5, 5 × 10^k that is ≥ ``value`` (> 0)."""
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * 10 ** exponent >= value * (1 - 1e-9):
            return step * 10 ** exponent
    return 10 ** (exponent + 1)


def epoch_ticks(epochs, most=6):
    step = max(1, math.ceil(epochs / most))
    ticks = list(range(step, epochs + 1, step))
    return ticks if ticks and ticks[-1] == epochs else ticks + [epochs]


def value_ticks(lo, hi):
    """Round values from ``lo`` to ``hi`` at a 1, 2, 2.5 or 5 step, about five of them."""
    step = nice_ceiling((hi - lo) / 5)
    count = int(round((hi - lo) / step))
    return [lo + i * step for i in range(count + 1)], step


def line_chart(history, epochs, series, lo, hi, label, reference=None, value=None):
    """Lines for ``series`` ((key, name, css class), ...) of ``history`` over ``epochs``.

    Epoch 0 (before training) is the left edge, so a one-epoch run still has
    its point at the right. ``label`` formats a value for the axis and the
    last point's caption (``value`` for the caption, if finer); ``reference``
    (name, value) is drawn as a level line.
    """
    value = value or label
    epochs = max(epochs, len(history), 1)

    def x(epoch):
        return LEFT + epoch / epochs * (RIGHT - LEFT)

    def y(value):
        return TOP + (hi - min(max(value, lo), hi)) / (hi - lo) * (BOTTOM - TOP)

    lines = []
    for key, name, css in series:
        points = [(x(h["epoch"]), y(h[key]), h[key]) for h in history if h.get(key) is not None]
        if points:
            lines.append({"name": name, "css": css, "last": points[-1],
                          "last_text": value(points[-1][2]),
                          "points": " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in points)})
    return {"viewbox": f"0 0 {WIDTH} {HEIGHT}", "left": LEFT, "right": RIGHT, "top": TOP,
            "bottom": BOTTOM, "lines": lines,
            "yticks": [(round(y(v), 1), label(v)) for v in value_ticks(lo, hi)[0]],
            "xticks": [(round(x(e), 1), e) for e in [0, *epoch_ticks(epochs)]],
            "reference": reference and {"name": reference[0], "y": round(y(reference[1]), 1),
                                        "text": value(reference[1])}}


def loss_chart(history, epochs):
    values = [h[k] for h in history for k in ("loss", "val_loss") if h.get(k) is not None]
    hi = nice_ceiling(max(values)) if values and max(values) > 0 else 1.0
    digits = decimals(value_ticks(0.0, hi)[1])
    return line_chart(history, epochs, (("loss", gettext("training"), "is-train"),
                                         ("val_loss", gettext("validation"), "is-val")),
                      0.0, hi, lambda v: number(v, digits), value=lambda v: number(v, 4))


def accuracy_chart(history, epochs, reference=None):
    """Training and validation accuracy; ``reference`` (name, accuracy): e.g. the serving
    model's validation accuracy, as a level line to beat."""
    values = [h[k] for h in history for k in ("val_accuracy", "train_accuracy")
              if h.get(k) is not None] + ([reference[1]] if reference else [])
    lowest = min(values) if values else 0.0
    span = min(1.0, nice_ceiling(max(1.0 - lowest, 0.002) * 1.15))
    digits = decimals(value_ticks(1.0 - span, 1.0)[1] * 100)
    return line_chart(history, epochs, (("train_accuracy", gettext("training"), "is-train"),
                                        ("val_accuracy", gettext("validation"), "is-val")),
                      1.0 - span, 1.0, lambda v: percent2(v, digits), reference,
                      value=lambda v: percent2(v))


def decimals(step):
    """Decimals that write ticks ``step`` apart exactly: 0.05 → 2, 0.25 → 2, 2 → 0."""
    text = f"{step:.6f}".rstrip("0").rstrip(".")
    return len(text.partition(".")[2])


def columns_floor(accuracies):
    """The bottom of a per-digit accuracy scale: a whole percent a little under the lowest
    (a digit without images, None, has no accuracy to show)."""
    shown = [a for a in accuracies if a is not None]
    if not shown:
        return 0.0
    return max(0.0, math.floor(min(shown) * 100 - 1) / 100)


def heatmap(confusion):
    """Cells of a 10×10 confusion matrix (rows: true digit, columns: predicted).

    Correct readings shade by the share of their row; mistakes by their count
    relative to the largest mistake (square-root scale, so a few stand out).
    """
    worst = max((confusion[t][p] for t in range(10) for p in range(10) if t != p), default=0)
    cells = []
    for true, row in enumerate(confusion):
        total = sum(row) or 1
        for predicted, count in enumerate(row):
            if true == predicted:
                kind, opacity = "hit", 0.35 + 0.65 * count / total
            elif count:
                kind, opacity = "miss", 0.18 + 0.82 * math.sqrt(count / worst)
            else:
                kind, opacity = "none", 1.0
            cells.append({"true": true, "predicted": predicted, "count": count, "kind": kind,
                          "opacity": round(opacity, 3), "dark": kind != "none" and opacity > 0.55})
    return cells
