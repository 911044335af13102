"""Painting strokes the way the draw page's canvas paints them, in NumPy.

``static/draw.js`` joins the reported pointer positions with quadratic curves
through their midpoints, strokes them with round caps and joins, a pen 1/14
of the side wide, ink #16181d on white, anti-aliased, and exports 280×280.
``render`` does the same so generated drawings reach the network through the
page's own preprocessing. It is separate from ``model.strokes`` (which knows
digit shapes, not pixels) and pure NumPy so training can use it.

Strokes are lists of points (k, 2) in canvas units (0..1, y down).
"""

import numpy as np

SIDE = 280          # pixels of the PNG the page sends
PEN = 1 / 14        # pen width, fraction of the side
PAPER = 255.0
INK = 0.299 * 0x16 + 0.587 * 0x18 + 0.114 * 0x1D   # #16181d as luminance, about 24
GROUP = 8           # consecutive segments measured together in one bounding box


def page_path(points, pieces=4):
    """The polyline (m, 2) draw.js strokes for the reported ``points`` (k, 2).

    Each inner point is the control point of a quadratic curve between the
    midpoints around it (flattened into ``pieces`` segments); the path starts
    at the first point and ends with a straight line to the last.
    """
    if len(points) < 3:
        return points
    mids = (points[1:-2] + points[2:-1]) / 2
    starts = np.vstack([points[:1], mids])          # curve i runs starts[i] → ends[i]
    ends = (points[1:-1] + points[2:]) / 2
    controls = points[1:-1]
    t = np.linspace(0, 1, pieces, endpoint=False)[1:, None, None]
    inner = ((1 - t) ** 2 * starts + 2 * (1 - t) * t * controls + t ** 2 * ends)  # (p-1, n, 2)
    path = np.concatenate([starts[None], inner], axis=0).transpose(1, 0, 2).reshape(-1, 2)
    return np.vstack([path, ends[-1:], points[-1:]])


def render(strokes, side=SIDE):
    """Strokes → luminance (side, side) uint8: dark ink on white, as the page exports it.

    Each pixel's ink is how far inside the stroke's outline its centre lies,
    clipped to one pixel of soft edge; distances are measured only inside
    the bounding box of each group of segments, which keeps it fast.
    """
    radius = side * PEN / 2
    distance = np.full((side, side), np.inf, dtype=np.float32)
    for stroke in strokes:
        path = page_path(np.asarray(stroke, dtype=np.float64)) * side - 0.5  # pixel centres
        if len(path) == 1:
            path = np.vstack([path, path])
        for i in range(0, len(path) - 1, GROUP):
            _nearest(distance, path[i:i + GROUP + 1], radius)
    coverage = np.clip(radius + 0.5 - distance, 0, 1)
    return np.round(PAPER - coverage * (PAPER - INK)).astype(np.uint8)


def _nearest(distance, path, radius):
    """Lower ``distance`` (h, w) to each pixel's distance from the segments of ``path`` (m, 2)."""
    h, w = distance.shape
    x0, y0 = np.floor(path.min(axis=0) - radius - 1).astype(int)
    x1, y1 = np.ceil(path.max(axis=0) + radius + 2).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x0 >= x1 or y0 >= y1:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    a, b = path[:-1, None, None, :].astype(np.float32), path[1:, None, None, :].astype(np.float32)
    d = b - a                                                       # (s, 1, 1, 2)
    length2 = np.maximum((d * d).sum(axis=-1), 1e-9)
    px, py = xs - a[..., 0], ys - a[..., 1]                         # (s, ph, pw)
    t = np.clip((px * d[..., 0] + py * d[..., 1]) / length2, 0, 1)
    near = np.sqrt((px - t * d[..., 0]) ** 2 + (py - t * d[..., 1]) ** 2).min(axis=0)
    np.minimum(distance[y0:y1, x0:x1], near, out=distance[y0:y1, x0:x1])
