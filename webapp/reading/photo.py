"""A photo of a digit on paper → the luminance of a clean drawing, for ``normalise``.

A canvas gives dark ink on even white; a phone's photo of paper does not:
light falls off across the sheet, a hand casts a shadow, exercise-book paper
is ruled, and there may be the odd speck of dirt. Each is undone here, in the
order they spoil the picture, before the same MNIST recipe reads it:

1. **The paper's own brightness** is estimated at every pixel (a grey-level
   closing that wipes out strokes narrower than ``PAPER_WINDOW`` of the
   picture, then a box blur) and divided out, so a shadow or a gradient
   becomes even paper and the ink keeps its contrast.
2. **Ruled lines** (rows, or a margin's column, a little dark across the
   whole sheet) are subtracted, row by row, leaving the strokes that cross
   them whole.
3. **Specks**: only the ink that belongs with the largest mark is kept.

Orientation (EXIF) is honoured by ``decode``, for every upload. Nothing here
knows about Flask; ``read_photo`` is the whole way, bytes to ``Digit``.
"""

from collections import deque

import numpy as np

from .decode import decode
from .normalise import normalise

PAPER_WINDOW = 0.12       # of the shorter side: strokes narrower than this are not paper
LINE_DARKNESS = 0.08      # of the paper's brightness: darker counts as a mark
LINE_MAX = 0.3            # ruled lines are pale: a row darker than this across is ink
KEEP_COMPONENT = 0.15     # a mark with less ink than this of the largest one's is a speck
JOIN = 0.04               # of the shorter side: marks this close are one (a 5's bar, an i's dot)


def read_photo(data):
    """PNG or JPEG bytes of a photo → ``(normalise.Digit, kept)``; raises ``decode.ImageError``.

    ``kept`` is the cleaned luminance (h, w) the digit was read from: the page
    shows it, and sends it back as the drawing when the visitor corrects it.
    """
    kept = clean_photo(decode(data))
    return normalise(kept), kept


def clean_photo(lum):
    """Luminance (h, w) in [0, 255] → luminance (h, w): even white paper, dark ink, no lines."""
    lum = np.asarray(lum, dtype=np.float32)
    if lum.mean() < 110:                         # light ink on a dark board: same steps, inverted
        lum = 255 - lum
    darkness = remove_ruled_lines(1 - np.clip(lum / paper_brightness(lum), 0, 1))
    darkness = np.where(darkness < LINE_DARKNESS, 0, darkness).astype(np.float32)
    darkness = keep_main_marks(darkness)
    return (255 * (1 - darkness)).astype(np.float32)


def paper_brightness(lum):
    """The paper's brightness under each pixel (h, w): ink closed over, then smoothed."""
    side = max(3, round(PAPER_WINDOW * min(lum.shape)) | 1)
    paper = sliding(sliding(lum, side, np.max), side, np.min)     # closing: strokes vanish
    paper = box_blur(paper, side)
    return np.maximum(paper, 1.0)


def sliding(image, size, reduce):
    """``reduce`` (np.max or np.min) over a ``size``×``size`` window around each pixel."""
    pad = size // 2
    for axis in (0, 1):
        padded = np.pad(image, [(pad, pad) if a == axis else (0, 0) for a in (0, 1)],
                        mode="edge")
        windows = np.lib.stride_tricks.sliding_window_view(padded, size, axis=axis)
        image = reduce(windows, axis=-1)
    return image


def box_blur(image, size):
    """The mean over a ``size``×``size`` window around each pixel, edges repeated."""
    pad = size // 2
    padded = np.pad(image, pad, mode="edge").astype(np.float64)
    total = padded.cumsum(0).cumsum(1)
    total = np.pad(total, ((1, 0), (1, 0)))
    h, w = image.shape
    window = (total[size:size + h, size:size + w] - total[:h, size:size + w]
              - total[size:size + h, :w] + total[:h, :w])
    return (window / (size * size)).astype(np.float32)


def remove_ruled_lines(darkness):
    """Darkness (h, w) with the ruled lines (and a margin line) taken away.

    A ruled line darkens its whole row a little; a digit darkens a row only
    where it crosses it. So each row's median darkness is the line's (about
    zero for plain paper, since no digit covers half the sheet's width) and is
    subtracted from the row: the line goes, and a stroke crossing it keeps
    its darkness less the line's, with no gap. Columns the same, for a margin.
    Only pale medians count (under ``LINE_MAX``): a row that is mostly dark
    ink is a digit photographed close up, not a line.
    """
    for axis in (1, 0):                       # rows (ruled lines), then columns (a margin)
        line = np.median(darkness, axis=axis, keepdims=True)
        line = np.where(line < LINE_MAX, line, 0)
        darkness = np.maximum(darkness - line, 0)
    return darkness


def keep_main_marks(darkness):
    """Darkness (h, w) with only the marks that go with the largest one kept.

    Marks are the connected ink after a small dilation (``JOIN``), so the
    separate strokes of one digit stay together; a mark with under
    ``KEEP_COMPONENT`` of the largest one's ink is a speck and goes.
    """
    marked = darkness > 0
    if not marked.any():
        return darkness
    join = max(1, round(JOIN * min(darkness.shape)))
    grown = sliding(marked.astype(np.uint8), 2 * join + 1, np.max).astype(bool)
    labels, count = label(grown)
    if count <= 1:
        return darkness
    mass = np.bincount(labels.ravel(), weights=darkness.ravel(), minlength=count + 1)
    mass[0] = 0
    keep = mass >= KEEP_COMPONENT * mass.max()
    return np.where(keep[labels], darkness, 0).astype(np.float32)


def label(mask):
    """4-connected components of a boolean mask (h, w) → (labels (h, w), count); 0 is background.

    A breadth-first fill over the few thousand marked pixels of a working-size
    photo (``decode`` shrinks it to about 140 px).
    """
    h, w = mask.shape
    labels = np.zeros((h, w), dtype=np.int32)
    flat = mask.ravel()
    out = labels.ravel()
    count = 0
    for start in np.flatnonzero(flat):
        if out[start]:
            continue
        count += 1
        out[start] = count
        queue = deque([start])
        while queue:
            i = queue.popleft()
            y, x = divmod(int(i), w)
            for j, ok in ((i - w, y > 0), (i + w, y < h - 1), (i - 1, x > 0), (i + 1, x < w - 1)):
                if ok and flat[j] and not out[j]:
                    out[j] = count
                    queue.append(j)
    return labels, count
