"""Handwriting styles MNIST's writers rarely used, drawn onto MNIST digits.

MNIST was written by American Census staff and students. Much of the world
crosses its sevens, gives its ones a flag and a foot, and curls the tail of
its nines; a network trained on MNIST alone read half the flagged 1s as 7s.
Training adds these strokes to some 7s, 1s and 9s, found by where their ink
is, so the network learns them as the same digits. Images are float32
(n, 28, 28) in [0, 1], white ink on black, roughly upright and centred (deskewed,
perhaps distorted).
"""

from dataclasses import dataclass

import numpy as np

from .geometry import grid, inputs, prepare


@dataclass(frozen=True)
class StyleConfig:
    crossed_seven: float = 0.3   # fraction of 7s given a bar across the stem
    one_flag: float = 0.4        # fraction of 1s given a flag at the top
    one_foot: float = 0.25       # fraction of 1s given a foot (serif) at the bottom
    nine_curl: float = 0.3       # fraction of 9s given a tail curling left


def _ink_extent(images, threshold=0.3):
    """Top row, bottom row, and the mean ink column on each of them, per image."""
    ink = images > threshold
    rows = ink.any(axis=2)
    top = rows.argmax(axis=1)
    bottom = images.shape[1] - 1 - rows[:, ::-1].argmax(axis=1)
    cols = np.arange(images.shape[2])

    def centre(row):
        line = ink[np.arange(len(images)), row]
        return (line * cols).sum(axis=1) / np.maximum(line.sum(axis=1), 1)

    return top, bottom, centre(top), centre(bottom), ink


def draw_segments(images, segments, width):
    """Draw anti-aliased line segments onto ``images`` (k, h, w) in place.

    ``segments`` is (k, s, 4) as (y0, x0, y1, x1) per segment; ``width`` (k,)
    is each image's stroke width in pixels. Ink is the max of old and new.
    """
    k, h, w = images.shape
    ys, xs = grid(h, w)
    ys, xs = ys.reshape(1, 1, -1), xs.reshape(1, 1, -1)                # (1, 1, hw)
    y0, x0, y1, x1 = (segments[..., i, None].astype(np.float32) for i in range(4))
    dy, dx = y1 - y0, x1 - x0                                          # (k, s, 1)
    # Distance from each pixel to the nearest point of each segment.
    t = ((ys - y0) * dy + (xs - x0) * dx) / np.maximum(dy * dy + dx * dx, 1e-6)
    np.clip(t, 0, 1, out=t)
    dist2 = np.square(ys - y0 - t * dy) + np.square(xs - x0 - t * dx)  # (k, s, hw)
    dist = np.sqrt(dist2.min(axis=1))
    stroke = np.clip(width[:, None].astype(np.float32) / 2 + 0.5 - dist, 0, 1)
    np.maximum(images, stroke.reshape(k, h, w), out=images)
    return images


def add_styles(images, labels, rng, config=StyleConfig()):
    """Give some 7s a crossbar, some 1s a flag and foot, some 9s a curled tail, in place."""
    n = len(images)
    u = rng.random((3, n))
    sevens = (labels == 7) & (u[0] < config.crossed_seven)
    flag = (labels == 1) & (u[1] < config.one_flag)
    foot = (labels == 1) & (u[2] < config.one_foot)
    nines = (labels == 9) & (u[1] < config.nine_curl)
    chosen = np.flatnonzero(sevens | flag | foot | nines)
    if not chosen.size:
        return images
    # From here on, only the chosen images: most of a batch has no style to add.
    k = len(chosen)
    sevens, flag, foot, nines = sevens[chosen], flag[chosen], foot[chosen], nines[chosen]
    picked = images[chosen]
    top, bottom, top_x, bottom_x, ink = _ink_extent(picked)
    height = (bottom - top).astype(np.float64)
    tall = height > 8
    sevens, flag, foot, nines = sevens & tall, flag & tall, foot & tall, nines & tall
    width = rng.uniform(1.6, 2.6, k)
    segs = np.full((k, 2, 4), -100.0)   # unused segments sit far outside the image

    if sevens.any():
        # The bar crosses the stem a little below the middle of the digit.
        row = (top + height * rng.uniform(0.5, 0.62, k)).round().astype(int).clip(0, 27)
        line = ink[np.arange(k), row]
        stem = (line * np.arange(28)).sum(axis=1) / np.maximum(line.sum(axis=1), 1)
        half = rng.uniform(3.0, 5.0, k)
        tilt = rng.uniform(-0.8, 0.8, k)
        segs[sevens, 0] = np.stack([row - tilt, stem - half, row + tilt, stem + half], 1)[sevens]
    if flag.any():
        drop, reach = rng.uniform(0.2, 0.35, k) * height, rng.uniform(3.0, 6.0, k)
        segs[flag, 0] = np.stack([top, top_x, top + drop, top_x - reach], 1)[flag]
    if foot.any():
        half = rng.uniform(3.0, 5.0, k)
        segs[foot, 1] = np.stack([bottom, bottom_x - half, bottom, bottom_x + half], 1)[foot]
    if nines.any():
        # Tail end turns left and slightly up: a hook like a "g" or "y".
        hook = rng.uniform(3.0, 6.0, k)
        segs[nines, 0] = np.stack([bottom, bottom_x, bottom - hook * 0.4, bottom_x - hook],
                                  1)[nines]
    drawn = sevens | flag | foot | nines
    images[chosen[drawn]] = draw_segments(picked[drawn], segs[drawn], width[drawn])
    return images

STYLE_CHECKS = {
    "crossed 7": (7, StyleConfig(crossed_seven=1, one_flag=0, one_foot=0, nine_curl=0)),
    "1 with a flag": (1, StyleConfig(crossed_seven=0, one_flag=1, one_foot=0, nine_curl=0)),
    "1 with flag and foot": (1, StyleConfig(crossed_seven=0, one_flag=1, one_foot=1,
                                            nine_curl=0)),
    "9 with a curled tail": (9, StyleConfig(crossed_seven=0, one_flag=0, one_foot=0,
                                            nine_curl=1)),
}


def styled_sets(images, labels, seed=0):
    """{style: (inputs (k, 28, 28), digit)}: test digits of one class redrawn in each style.

    ``images`` are upright, centred test digits (deskewed as the model wants
    them); the styled digits are deskewed again afterwards by the caller, as
    a drawing would be.
    """
    sets = {}
    for name, (digit, config) in STYLE_CHECKS.items():
        chosen = images[labels == digit].copy()
        sets[name] = (add_styles(chosen, labels[labels == digit],
                                 np.random.default_rng(seed), config), digit)
    return sets


def styled_accuracy(net, data):
    """{style: accuracy} of ``net`` on ``data``'s test 7s, 1s and 9s redrawn in each style."""
    upright = prepare(data["test_images"]).reshape(-1, 28, 28)
    return {name: float((net.predict(inputs(net, images)) == digit).mean())
            for name, (images, digit) in styled_sets(upright, data["test_labels"]).items()}
