"""How far to trust the model's confidence: calibration error, the "sure" rate, and a
reliability diagram drawn as a small SVG (no plotting library).

``probabilities`` are the network's outputs (n, 10); ``labels`` the true digits (n,).
Confidence is the top probability, as the draw page shows it; the page says it
is not sure below ``SURE`` (``DIGITS_UNSURE_BELOW``, 0.6).
"""

import numpy as np

SURE = 0.6
BINS = 10


def reliability(probabilities, labels, bins=BINS):
    """Per confidence bin (equal width over 0..1): count, mean confidence, accuracy.

    Returns three arrays (bins,); empty bins have count 0 and NaN means.
    """
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore"):
        mean_confidence = np.bincount(which, confidence, bins) / count
        accuracy = np.bincount(which, correct, bins) / count
    return count, mean_confidence, accuracy


def summary(probabilities, labels, bins=BINS):
    """Accuracy, expected calibration error, and how the model does when it says it is sure.

    ECE is the count-weighted mean gap |accuracy − confidence| over the bins.
    ``sure`` is the share of inputs with confidence ≥ ``SURE``;
    ``wrong_when_sure`` the share of those it gets wrong.
    """
    count, confidence, accuracy = reliability(probabilities, labels, bins)
    used = count > 0
    ece = float((count[used] * np.abs(accuracy[used] - confidence[used])).sum() / count.sum())
    sure = probabilities.max(axis=1) >= SURE
    correct = probabilities.argmax(axis=1) == labels
    return {"n": int(len(labels)), "accuracy": float(correct.mean()), "ece": ece,
            "mean_confidence": float(probabilities.max(axis=1).mean()),
            "sure": float(sure.mean()),
            "wrong_when_sure": float((~correct[sure]).mean()) if sure.any() else 0.0,
            "wrong_when_unsure": float((~correct[~sure]).mean()) if (~sure).any() else 0.0}


def diagram_svg(panels, bins=BINS, size=220):
    """Reliability diagrams side by side as SVG text.

    ``panels`` is a list of ``(title, [(label, colour, probabilities, labels), ...])``.
    Each panel plots accuracy against confidence per bin (a point per
    non-empty bin, area by count) with the diagonal of perfect calibration.
    """
    pad, gap = 34, 20
    width = len(panels) * (size + pad + gap) + gap
    height = size + 2 * pad + 16 * max(len(series) for _, series in panels)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    for p, (title, series) in enumerate(panels):
        x0, y0 = gap + pad + p * (size + pad + gap), pad
        X = lambda v: x0 + v * size          # noqa: E731
        Y = lambda v: y0 + (1 - v) * size    # noqa: E731
        out.append(f'<text x="{x0}" y="{y0 - 10}" font-weight="bold">{title}</text>')
        out.append(f'<rect x="{x0}" y="{y0}" width="{size}" height="{size}" fill="none" '
                   'stroke="#999"/>')
        out.append(f'<line x1="{X(0)}" y1="{Y(0)}" x2="{X(1)}" y2="{Y(1)}" stroke="#bbb" '
                   'stroke-dasharray="4 3"/>')
        out.append(f'<line x1="{X(SURE)}" y1="{Y(0)}" x2="{X(SURE)}" y2="{Y(1)}" stroke="#ddd"/>')
        for v in (0, 0.5, 1):
            out.append(f'<text x="{X(v)}" y="{y0 + size + 13}" text-anchor="middle">{v:g}</text>')
            out.append(f'<text x="{x0 - 4}" y="{Y(v) + 4}" text-anchor="end">{v:g}</text>')
        out.append(f'<text x="{X(0.5)}" y="{y0 + size + 26}" text-anchor="middle">confidence'
                   '</text>')
        out.append(f'<text transform="translate({x0 - 22} {Y(0.5)}) rotate(-90)" '
                   'text-anchor="middle">accuracy</text>')
        for s, (label, colour, probabilities, labels) in enumerate(series):
            count, confidence, accuracy = reliability(probabilities, labels, bins)
            points = [(X(c), Y(a), n) for c, a, n in zip(confidence, accuracy, count) if n]
            out.append('<polyline fill="none" stroke="{}" points="{}"/>'.format(
                colour, " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)))
            for x, y, n in points:
                r = 1.5 + 5 * np.sqrt(n / count.sum())
                out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{colour}" '
                           'fill-opacity="0.7"/>')
            ece = summary(probabilities, labels, bins)["ece"]
            ly = y0 + size + 42 + 16 * s
            out.append(f'<circle cx="{x0 + 5}" cy="{ly - 4}" r="4" fill="{colour}"/>')
            out.append(f'<text x="{x0 + 14}" y="{ly}">{label}: ECE {ece:.3f}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
