"""MNIST's own digits re-drawn as pen strokes, so the network learns the canvas's pen
from MNIST's variety of writers.

An MNIST digit is a scanned pen stroke: anti-aliased, of varying width, shaped
by thousands of hands. The draw page's canvas paints every stroke with one
round pen. ``strokes_of`` thins an MNIST digit to its one-pixel skeleton
(Zhang & Suen 1984, batched in NumPy), traces the skeleton into polylines
(from its ends first, then round whatever loops are left), smooths them, and
returns them in canvas units; ``model.canvas.render`` then paints them with
the page's pen, and the page's reading turns the painting back into 28×28.
The digit's shape (its writer) is MNIST's; its stroke is the canvas's.
"""

import numpy as np

# Neighbours P2..P9 of Zhang-Suen, clockwise from north, as (dy, dx).
RING = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))
THRESHOLD = 0.45        # ink above this is part of the stroke before thinning
MIN_STROKE = 3          # skeleton pieces shorter than this many pixels are spurs or specks


def _neighbours(mask):
    """(8, n, h, w) bool: each pixel's neighbours P2..P9 (outside the image: no ink)."""
    padded = np.pad(mask, ((0, 0), (1, 1), (1, 1)))
    h, w = mask.shape[1:]
    return np.stack([padded[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy, dx in RING])


def skeleton(images, threshold=THRESHOLD):
    """Images (n, h, w) in [0, 1] → their one-pixel-wide skeletons (n, h, w) bool."""
    mask = np.asarray(images) > threshold
    while True:
        changed = False
        for step in (0, 1):
            p = _neighbours(mask)
            count = p.sum(axis=0)
            transitions = (~p & np.roll(p, -1, axis=0)).sum(axis=0)
            p2, p4, p6, p8 = p[0], p[2], p[4], p[6]
            if step == 0:
                gone = ~(p2 & p4 & p6) & ~(p4 & p6 & p8)
            else:
                gone = ~(p2 & p4 & p8) & ~(p2 & p6 & p8)
            remove = mask & (count >= 2) & (count <= 6) & (transitions == 1) & gone
            if remove.any():
                mask &= ~remove
                changed = True
        if not changed:
            return mask


def trace(mask):
    """A skeleton (h, w) bool → polylines, each (k, 2) as (x, y) pixel coordinates.

    Walks start at the skeleton's ends (one neighbour), then at any pixel left
    (loops); each walk follows untraced pixels, straight neighbours before
    diagonal ones, until none is left.
    """
    pixels = {(int(y), int(x)) for y, x in zip(*np.nonzero(mask))}
    order = RING[0::2] + RING[1::2]           # straight neighbours first

    def around(y, x):
        return [(y + dy, x + dx) for dy, dx in order if (y + dy, x + dx) in pixels]

    left = set(pixels)
    lines = []
    ends = sorted(p for p in pixels if len(around(*p)) == 1)
    for start in ends + sorted(pixels):
        if start not in left:
            continue
        line, here = [start], start
        left.discard(start)
        while True:
            step = [q for q in around(*here) if q in left]
            if not step:
                # close a loop back onto where the walk began, as a pen would
                if len(line) > 3 and start in around(*here):
                    line.append(start)
                break
            here = step[0]
            left.discard(here)
            line.append(here)
        if len(line) >= MIN_STROKE:
            lines.append(np.array([(x, y) for y, x in line], dtype=np.float64))
    return lines


def smooth(line, passes=2):
    """A traced pixel path (k, 2) with its staircase averaged away, ends kept."""
    line = line.copy()
    for _ in range(passes):
        if len(line) >= 3:
            line[1:-1] = (line[:-2] + 2 * line[1:-1] + line[2:]) / 4
    return line


def strokes_of(image, rng, height=(0.35, 0.85), margin=1 / 28, skeletons=None):
    """An MNIST digit (28, 28) → its strokes in canvas units (a list of (k, 2)), or [].

    The digit is drawn at a random height (fraction of the canvas) and place,
    the reported points a few pixels apart as a moving pen's would be.
    """
    mask = skeleton(image[None])[0] if skeletons is None else skeletons
    lines = [smooth(line) for line in trace(mask)]
    if not lines:
        return []
    every = np.vstack(lines)
    low, high = every.min(axis=0), every.max(axis=0)
    extent = np.maximum(high - low, 1.0)
    room = 1 - 2 * margin
    scale = min(rng.uniform(*height) / extent[1], room / extent.max())
    free = room - extent * scale
    offset = margin + free * rng.uniform(0.3, 0.7, 2)
    keep = rng.integers(1, 3)                  # every 1st or 2nd pixel: the pen's speed
    out = []
    for line in lines:
        points = line[::keep] if len(line) > 2 * keep else line
        if not np.array_equal(points[-1], line[-1]):
            points = np.vstack([points, line[-1:]])
        out.append(np.clip((points - low) * scale + offset, 0, 1))
    return out
