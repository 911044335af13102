"""Digits as real pens write them: writers with their own hand, and the forms MNIST misses.

``model.strokes`` draws each form from a tidy template. Real pen handwriting
differs in proportion and in how the stroke is made, and those differences are
what a model trained on MNIST and the tidy forms misreads (issue 16):

- **9s with a tiny head and a long tail**: a small, quickly scribbled loop,
  often overdrawn, at most a fifth of the digit's height, on a long stem whose
  tail sweeps far left like a "J" or curves round like a "g";
- **7s with a round, arched top** like the top of a 2 and a crossbar through
  the stem, often long and low; some with a curled foot;
- **4s in one stroke with a curved left side** ("ㄣ", a lightning bolt): down-left
  in a curve, right along the bar, then a stem that crosses the bar or starts
  from it; and 4s whose left part closes into a small loop.

A ``Writer`` is a seed that fixes a hand: slant, width, size, how much the
control points wander, how fast the pen moves (which sets how far apart the
pointer's reports fall, more so on the straight parts), tremor, how often loops
are overdrawn and strokes overshoot, and which form the writer uses for each
digit. Evaluation writers come from seeds training never uses, so a score on
them is a score on hands the network never saw. ``sample`` returns strokes in
canvas units (0..1, y down) for ``model.canvas.render``; the other digits come
from ``model.strokes``' forms drawn with the same pen behaviour. (The canvas's
pen has one width, so a writer's pressure does not show and is not modelled.)

Shapes are built in a unit box (x right, y down, the digit's height 1).
"""

from dataclasses import dataclass

import numpy as np

from . import strokes as forms

TRAINING_WRITERS = range(0, 100_000)          # writer seeds training may use
EVALUATION_WRITERS = range(1_000_000, 1_000_100)   # never used by training

# The new kinds, by digit; the rest of each digit's share goes to ``model.strokes`` forms.
KINDS = {
    4: ("4-lightning", "4-lightning-crossed", "4-looped"),
    7: ("7-arched-bar", "7-arched-bar-foot"),
    9: ("9-tiny-head-J", "9-tiny-head-g"),
}
# How much of each digit a writer draws in the new kinds (the misread shares:
# a quarter of the 9s, an eighth of the 7s and 4s were misread; more are drawn so).
NEW_KIND_SHARE = {4: 0.45, 7: 0.45, 9: 0.55}
ALL_KINDS = tuple(k for d in range(10) for k in KINDS.get(d, ())) + tuple(
    f.name for f in forms.FORMS)


@dataclass(frozen=True)
class Writer:
    """One hand. Every field is fixed by ``writer(seed)``."""

    seed: int
    slant: float          # shear, top to the right: +
    width: float          # x scale of the digit
    height: float         # digit height, fraction of the canvas
    jitter: float         # s.d. of a control point's wander, digit heights
    speed: float          # canvas units between reports on a straight stretch
    tremor: float         # s.d. of hand shake, canvas units
    overdraw: float       # chance a loop goes round more than once
    overshoot: float      # how far a stroke's end runs past its target, digit heights
    head: float           # a tiny-head 9's loop height, fraction of the digit
    bar: float            # where a 7's crossbar falls, fraction of the height
    choice: tuple         # per digit: the kind this writer usually draws


def writer(seed):
    """The ``Writer`` a seed stands for (the same seed, the same hand)."""
    rng = np.random.default_rng([seed, 16])
    choice = []
    for digit in range(10):
        kinds = KINDS.get(digit, ())
        tidy = [f.name for f in forms.FORMS if f.digit == digit]
        if kinds and rng.random() < NEW_KIND_SHARE[digit]:
            choice.append(kinds[rng.integers(len(kinds))])
        else:
            choice.append(tidy[rng.integers(len(tidy))])
    return Writer(seed=int(seed), slant=rng.uniform(-0.12, 0.38),
                  width=float(np.exp(rng.uniform(np.log(0.6), np.log(1.2)))),
                  height=rng.uniform(0.35, 0.85), jitter=rng.uniform(0.012, 0.04),
                  speed=rng.uniform(0.006, 0.04), tremor=rng.uniform(0.0, 0.003),
                  overdraw=rng.uniform(0, 1), overshoot=rng.uniform(0, 0.08),
                  head=rng.uniform(0.13, 0.27), bar=rng.uniform(0.45, 0.72),
                  choice=tuple(choice))


def _smooth(points, corners=(), rng=None, jitter=0.0):
    """Control points (k, 2) → a smooth path, with corners at the given indices."""
    points = np.asarray(points, dtype=np.float64)
    if rng is not None and jitter:
        points = points + rng.normal(0, jitter, points.shape)
    corner = np.zeros(len(points), dtype=bool)
    corner[list(corners)] = True
    return forms.curve(points, corner)


def _loop(cx, cy, rx, ry, turns, start=0.0):
    """A loop drawn anticlockwise on the page (y down) from angle ``start``, ``turns`` times."""
    t = start + np.linspace(0, 2 * np.pi * turns, max(int(48 * turns), 8))
    shrink = 1 - 0.12 * (t - start) / (2 * np.pi * max(turns, 1))   # overdrawn: a little smaller
    return np.stack([cx + rx * shrink * np.cos(t), cy - ry * shrink * np.sin(t)], axis=1)


def _nine(w, rng, tail):
    """A 9 with a tiny, perhaps overdrawn head on a long stem; the tail a "J" or a "g"."""
    h = w.head * rng.uniform(0.85, 1.15)
    r = h / 2
    cx = rng.uniform(0.55, 0.7)
    turns = 1 + (rng.uniform(0.3, 1.0) if rng.random() < w.overdraw else rng.uniform(0, 0.15))
    head = _loop(cx, r, r * rng.uniform(0.9, 1.5), r, turns, start=rng.uniform(-0.3, 0.3))
    x = cx + r * rng.uniform(0.6, 1.1)
    lean = rng.uniform(-0.12, 0.05)            # the stem drifts left as it falls
    if tail == "J":
        reach = rng.uniform(0.25, 0.5)
        body = [[x, r], [x + lean * 0.5, 0.55], [x + lean, 0.85], [x + lean - 0.08, 0.99],
                [x + lean - reach * 0.6, 1.0], [x + lean - reach, 0.88 + rng.uniform(-0.06, 0.04)]]
    else:   # "g": round the bottom and back up
        reach = rng.uniform(0.25, 0.45)
        body = [[x, r], [x + lean * 0.5, 0.5], [x + lean, 0.78], [x + lean - 0.06, 0.95],
                [x + lean - reach * 0.5, 1.0], [x + lean - reach, 0.9],
                [x + lean - reach * 1.05, 0.76], [x + lean - reach * 0.8, 0.68]]
    stem = _smooth(body, rng=rng, jitter=w.jitter * 0.5)
    return [np.vstack([head, np.linspace(head[-1], stem[0], 4)[1:-1], stem])]


def _seven(w, rng, foot):
    """A 7 whose top arches like a 2's, a long low crossbar through the stem, maybe a foot."""
    left, right = rng.uniform(0.0, 0.15), rng.uniform(0.8, 1.0)
    rise = rng.uniform(0.12, 0.35)
    bottom_x = rng.uniform(0.3, 0.5)
    top = [[left, rise], [left + 0.12, 0.04], [(left + right) / 2, 0.0],
           [right - 0.06, 0.06], [right, 0.18 + rng.uniform(-0.04, 0.06)]]
    stem = [[bottom_x + 0.25 * (right - bottom_x), 0.45], [bottom_x, 1.0]]
    if foot:
        side = rng.choice([-1, 1])
        stem[-1] = [bottom_x, 0.92]
        stem += [[bottom_x + side * 0.05, 1.0], [bottom_x + side * 0.16, 0.97]]
    path = _smooth(top + stem, corners=[len(top) - 1] if rng.random() < 0.6 else (),
                   rng=rng, jitter=w.jitter)
    bar_y = w.bar + rng.uniform(-0.06, 0.06)
    stem_x = np.interp(bar_y, path[:, 1][len(path) // 2:], path[:, 0][len(path) // 2:])
    half = rng.uniform(0.22, 0.4)
    bar = _smooth([[stem_x - half * rng.uniform(0.8, 1.2), bar_y + rng.uniform(-0.04, 0.04)],
                   [stem_x + half * rng.uniform(0.6, 1.1), bar_y + rng.uniform(-0.06, 0.02)]])
    return [path, bar]


def _four(w, rng, kind):
    """One-stroke 4s with a curved left side (lightning, or the stem crossing the bar), or a
    4 whose left part closes into a small loop."""
    bar_y = rng.uniform(0.5, 0.68)
    stem_x = rng.uniform(0.55, 0.72)
    right = stem_x + rng.uniform(0.12, 0.3)
    left = rng.uniform(0.0, 0.12)
    if kind == "4-looped":
        size = rng.uniform(0.22, 0.34)             # the loop's height, fraction of the digit
        low = bar_y + rng.uniform(0.0, 0.08)
        loop = [[stem_x - 0.08, 0.02], [left + 0.1, low - size * 0.7], [left, low - 0.04],
                [left + 0.1, low], [left + size, low - size * 0.45],
                [left + size * 0.6, low - size], [left + size * 0.25, low - size * 0.55],
                [left + size * 0.4, bar_y], [stem_x, bar_y], [right, bar_y - 0.02]]
        first = _smooth(loop, rng=rng, jitter=w.jitter * 0.6)
        stem = _smooth([[stem_x + rng.uniform(-0.04, 0.04), rng.uniform(0.0, 0.15)],
                        [stem_x + rng.uniform(-0.06, 0.02), 1.0]], rng=rng, jitter=w.jitter)
        return [first, stem]
    start = [rng.uniform(0.25, 0.5), 0.0]
    side = [start, [left + 0.1, bar_y * 0.55], [left, bar_y - 0.04], [left + 0.08, bar_y]]
    if kind == "4-lightning":   # down-left in a curve, right, then the stem falls from the bar
        pts = side + [[stem_x, bar_y - 0.02], [right, bar_y - 0.04],
                      [right - rng.uniform(0.05, 0.2), 1.0]]
        return [_smooth(pts, corners=[len(side) + 1], rng=rng, jitter=w.jitter)]
    # crossed: after the bar the pen goes back up to the stem's top and down through the bar
    top = rng.uniform(0.0, 0.2)
    pts = side + [[stem_x, bar_y - 0.02], [right, bar_y - 0.04], [stem_x, top],
                  [stem_x - rng.uniform(0.0, 0.08), 1.0]]
    return [_smooth(pts, corners=[len(side) + 1, len(side) + 2], rng=rng, jitter=w.jitter)]


def _tidy(form, w, rng):
    """A ``model.strokes`` form in this writer's hand, loops perhaps overdrawn."""
    paths = []
    for stroke in form.strokes:
        points, corner = forms.control_points(stroke)
        points = points + rng.normal(0, w.jitter, points.shape)
        path = forms.curve(points, corner)
        closed = np.hypot(*(path[0] - path[-1])) < 0.15 and len(path) > 20
        if closed and rng.random() < w.overdraw * 0.5:    # round the loop once more, in part
            path = np.vstack([path, path[1:int(len(path) * rng.uniform(0.2, 0.6))]])
        paths.append(path)
    return paths


def shape(kind, w, rng):
    """Strokes (list of (m, 2)) of ``kind`` in the unit box, before slant and placement."""
    if kind.startswith("9-tiny-head"):
        return _nine(w, rng, kind[-1])
    if kind.startswith("7-arched-bar"):
        return _seven(w, rng, kind.endswith("foot"))
    if kind in KINDS[4]:
        return _four(w, rng, kind)
    return _tidy(forms.BY_NAME[kind], w, rng)


def _overshoot(path, amount):
    """Run the stroke's end on past its target along its last direction."""
    if len(path) < 2 or amount <= 0:
        return path
    d = path[-1] - path[-3 if len(path) > 2 else -2]
    norm = np.hypot(*d)
    if norm < 1e-9:
        return path
    return np.vstack([path, path[-1] + d / norm * amount])


def _report(path, spacing, rng):
    """Where the pointer reports the pen along ``path``: equal times, not equal distances.

    The pen slows where the path turns, so reports crowd in the curves and
    spread out along the straight parts (``spacing`` apart at full speed).
    """
    steps = np.hypot(*np.diff(path, axis=0).T)
    if steps.sum() <= spacing:
        return path[[0, -1]]
    heading = np.arctan2(*np.diff(path, axis=0).T[::-1])
    turn = np.abs(np.angle(np.exp(1j * np.diff(heading))))
    turn = np.concatenate([[turn[0] if len(turn) else 0], turn])
    bend = turn / np.maximum(steps, 1e-6)                          # curvature, per unit
    speed = 1 / (1 + 0.04 * np.convolve(bend, np.ones(5) / 5, mode="same"))
    time = np.concatenate([[0], np.cumsum(steps / speed)])
    gaps = spacing * rng.uniform(0.7, 1.3, int(time[-1] / (0.7 * spacing)) + 2)
    marks = np.cumsum(gaps)
    marks = np.concatenate([[0], marks[marks < time[-1]], [time[-1]]])
    return np.stack([np.interp(marks, time, path[:, 0]), np.interp(marks, time, path[:, 1])], 1)


def sample(kind, w, rng, anywhere=False, margin=1 / 28):
    """One drawing of ``kind`` by writer ``w``: strokes, each (k, 2) in canvas units.

    Centred (the default) puts the digit near the middle at the writer's size;
    ``anywhere`` draws it at a random size (0.25–0.9 of the canvas) and place.
    """
    paths = [_overshoot(p, w.overshoot * rng.uniform(0, 1.5)) for p in shape(kind, w, rng)]
    slant = w.slant + rng.normal(0, 0.05)
    angle = np.radians(rng.normal(0, 3))
    cos, sin = np.cos(angle), np.sin(angle)
    linear = np.array([[cos, -sin], [sin, cos]]) @ np.array(
        [[w.width * rng.uniform(0.9, 1.1), -slant], [0, 1]])
    paths = [(p - 0.5) @ linear.T for p in paths]
    every = np.vstack(paths)
    low, high = every.min(axis=0), every.max(axis=0)
    extent = np.maximum(high - low, 1e-6)
    room = 1 - 2 * margin
    height = rng.uniform(0.25, 0.9) if anywhere else w.height * rng.uniform(0.9, 1.1)
    scale = min(height / extent[1], room / extent[0], room / extent[1])
    free = room - extent * scale
    offset = margin + (free * rng.random(2) if anywhere else free / 2 + rng.normal(0, 0.02, 2))
    spacing = w.speed * rng.uniform(0.8, 1.25)
    drawn = []
    for p in paths:
        placed = (p - low) * scale + offset
        points = forms._tremor(_report(placed, spacing, rng), w.tremor, rng)
        drawn.append(np.clip(points, 0, 1))
    return drawn


def kind_for(w, digit, rng, usual=0.75):
    """Which kind writer ``w`` draws ``digit`` in: their usual one most of the time."""
    if rng.random() < usual:
        return w.choice[digit]
    options = list(KINDS.get(digit, ())) + [f.name for f in forms.FORMS if f.digit == digit]
    return options[rng.integers(len(options))]


def plan(n, writers, seed):
    """``n`` drawings by the given writer seeds: a list of (writer, kind, digit, anywhere).

    Digits take turns (balanced classes), writers take turns too, half the
    drawings are placed anywhere.
    """
    rng = np.random.default_rng([seed, 17])
    hands = [writer(s) for s in writers]
    out = []
    for i in range(n):
        digit = i % 10
        w = hands[(i // 10) % len(hands)]
        out.append((w, kind_for(w, digit, rng), digit, bool(i // 10 % 2)))
    return out
