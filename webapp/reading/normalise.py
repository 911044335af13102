"""Luminance → the 28×28 image MNIST's own recipe would make of it.

The second half of reading a drawing (``decode`` is the first), and the step
peers get wrong ("99 % on the test set but wrong on my digits"), so it follows
how MNIST itself was made: the ink's bounding box is scaled so its longer side
is 20 px (aspect ratio kept, anti-aliased) and pasted into a 28×28 field with
its centre of mass at the centre. Before that come the things a canvas or a
photo adds and MNIST never had: dark ink on a light background, faint noise, a
drawing that is empty or a speck, and strokes far too thick for the digit's
size (a small digit drawn with the canvas's fixed pen), which are thinned
towards MNIST's stroke width. Ink is float32 in [0, 1], white on black
(MNIST's polarity). ``read_digit`` is the whole way, bytes to ``Digit``.
"""

from dataclasses import dataclass

import numpy as np
from flask_babel import lazy_gettext as _l
from PIL import Image, ImageFilter

from .decode import decode

FIELD, BOX = 28, 20               # MNIST: a 20×20 box centred by mass in a 28×28 field
FIELD_CENTRE = 14.0               # where MNIST's centres of mass sit (mean 13.99, 14.01)
NOISE = 0.25                      # ink below this (of the darkest stroke) does not count
MIN_CONTRAST = 48                 # grey levels between paper and ink; less is a blank page
MIN_EXTENT = 0.1                  # ink spanning less of the image than this is a speck
# Stroke width in pixels once the digit fits the 20 px box. MNIST's median is
# 1.8 and its 95th percentile 3.0; a digit drawn small with the canvas's fixed
# pen comes out far thicker (4-6 px) and gets misread, so such strokes are
# thinned to TARGET_STROKE, working at THIN_SIDE px, before the final scaling.
MAX_STROKE, TARGET_STROKE, THIN_SIDE = 3.0, 2.4, 80

BLANK = _l("The image is blank.")
TOO_LITTLE_INK = _l("There is too little ink to read: draw the digit larger.")


@dataclass(frozen=True)
class Digit:
    """A decoded drawing: the MNIST-style ``image`` (28, 28), or why there is none.

    ``image`` is float32 in [0, 1], white ink on black, before any deskewing;
    it is ``None`` exactly when ``blank`` holds a reason (empty canvas, a speck).
    """

    image: np.ndarray | None
    blank: str | None = None


def read_digit(data):
    """PNG or JPEG bytes → ``Digit``. Raises ``decode.ImageError`` for anything unreadable."""
    return normalise(decode(data))


def to_ink(lum):
    """Luminance (h, w) → ink (h, w) float32 in [0, 1]: white on black, paper at 0, ink at 1.

    The paper is the image's border: its median grey is the paper's colour
    (light paper means dark ink, which is inverted) and its spread (the
    interquartile range) the grain or sensor noise, which is cut off. The
    range from there to the strongest ink is stretched to [0, 1], so grey
    pencil on grey paper reads like a pen. A page with less than
    ``MIN_CONTRAST`` grey levels of ink is all zeros.
    """
    h, w = lum.shape
    ring = max(1, min(h, w) // 32)
    border = np.concatenate([lum[:ring].ravel(), lum[-ring:].ravel(),
                             lum[:, :ring].ravel(), lum[:, -ring:].ravel()])
    low, paper, high = order_statistics(border, (0.25, 0.5, 0.75))
    if paper > 127.5:
        lum, paper = 255 - lum, 255 - paper
    floor = paper + 3 * (high - low) / 1.349     # 3 σ of the paper's grain, from its IQR
    above = lum[lum > floor]
    peak = order_statistics(above, (0.999,))[0] if above.size else paper
    if peak - paper < MIN_CONTRAST:
        return np.zeros_like(lum)
    ink = (lum - np.float32(floor)) * np.float32(1 / (peak - floor))
    return clip01(ink)


def clip01(values):
    """``np.clip(values, 0, 1)`` in place, as two ufunc calls (``np.clip`` is Python around them)."""
    return np.minimum(np.maximum(values, 0, out=values), 1, out=values)


def order_statistics(values, fractions):
    """The values at the given fractions (0..1) of the sorted ``values``, nearest rank.

    One ``np.partition`` instead of ``np.percentile``: the same numbers to
    within a grey level here, at a fraction of the per-call cost.
    """
    ordered = values.flatten()                 # a copy, partitioned in place
    ranks = [round(f * (len(ordered) - 1)) for f in fractions]
    ordered.partition(ranks)
    return [float(ordered[r]) for r in ranks]


def normalise(lum):
    """Luminance (h, w) → ``Digit`` holding the 28×28 MNIST-style image, or why it is blank."""
    ink = to_ink(lum)
    crop = crop_to_ink(ink)
    if crop is None:
        return Digit(None, str(BLANK))
    if max(crop.shape) < MIN_EXTENT * max(ink.shape):
        return Digit(None, str(TOO_LITTLE_INK))
    return Digit(centre_by_mass(fit_box(crop)))


def crop_to_ink(ink):
    """The bounding box of ``ink`` (h, w) above the noise threshold, or None if there is none."""
    strokes = ink > NOISE
    rows = np.logical_or.reduce(strokes, axis=1).nonzero()[0]
    cols = np.logical_or.reduce(strokes, axis=0).nonzero()[0]
    if not rows.size:
        return None
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def scale_longer_side(ink, side):
    """Ink (h, w) → (h', w') with the longer side ``side`` px, aspect kept, area-averaged.

    Scaling a float image keeps the anti-aliased grey levels MNIST has; a thin
    tall "1" stays thin and tall instead of being stretched into a blob.
    """
    h, w = ink.shape
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = Image.fromarray(np.ascontiguousarray(ink, dtype=np.float32)).resize(
        size, Image.Resampling.BOX)
    return clip01(np.array(small, dtype=np.float32))


def stroke_width(strokes):
    """Mean width in pixels of the strokes in a boolean mask (h, w): 2 × area / perimeter."""
    count = np.add.reduce            # of booleans: how many are true
    area = int(count(strokes, axis=None))
    edges = int(count(strokes[1:] != strokes[:-1], axis=None)
                + count(strokes[:, 1:] != strokes[:, :-1], axis=None)
                + count(strokes[0]) + count(strokes[-1]) + count(strokes[:, 0])
                + count(strokes[:, -1]))
    return 2 * area / edges if edges else 0.0


def fit_box(crop, box=BOX):
    """The ink's bounding box (h, w) → the digit with its longer side ``box`` px, MNIST's size.

    Strokes that would be thicker than ``MAX_STROKE`` at that size are first
    eroded towards ``TARGET_STROKE`` (which also reopens loops a fat pen closed).
    """
    width = stroke_width(crop > 0.5) * box / max(crop.shape)
    if width > MAX_STROKE:
        crop = thin(crop, width, box)
    return scale_longer_side(crop, box)


def thin(crop, width, box=BOX):
    """Erode the ink (h, w), whose strokes are ``width`` px at ``box`` scale, to ``TARGET_STROKE``.

    Working at ``THIN_SIDE`` px, eroding by r px narrows strokes by 2r and the
    digit's extent by 2r too; r is chosen so the ratio comes out right.
    """
    work = scale_longer_side(crop, THIN_SIDE)
    zoom = THIN_SIDE / box
    radius = (width - TARGET_STROKE) * zoom / (2 * (1 - TARGET_STROKE / box))
    size = 2 * round(radius) + 1
    if size < 3:
        return crop
    eroded = np.asarray(Image.fromarray(work).filter(ImageFilter.MinFilter(size)))
    thinned = crop_to_ink(eroded)
    return crop if thinned is None else thinned


def centre_by_mass(small, field=FIELD):
    """Paste ink (h, w) into a ``field``×``field`` image with its centre of mass at the centre.

    The shift is whole pixels (as MNIST's was), clamped so no ink is cut off.
    """
    h, w = small.shape
    rows, cols = np.add.reduce(small, axis=1), np.add.reduce(small, axis=0)
    mass = np.add.reduce(rows)
    cy = (rows @ np.arange(h)) / mass
    cx = (cols @ np.arange(w)) / mass
    top = min(max(round(FIELD_CENTRE - float(cy)), 0), field - h)
    left = min(max(round(FIELD_CENTRE - float(cx)), 0), field - w)
    image = np.zeros((field, field), dtype=np.float32)
    image[top:top + h, left:left + w] = small
    return image
