"""Digit forms as pen strokes, and random drawings of them as a hand would make them.

MNIST's writers were American; people elsewhere learnt other forms (allographs)
of the same digits: a 9 whose tail hooks back like a "g", a 7 with a hooked top
and a bar through its stem, a 1 with a tall flag, a 4 drawn open in one stroke.
Each ``Form`` here is one such shape as the pen moves: ordered strokes through
control points, tagged with the handwriting traditions that teach it.
``sample`` draws a form with the variations a person adds (jitter, slant,
proportions, size and place on the canvas, pen speed, tremor) and returns the
points a pointer would report; ``model.canvas.render`` paints them as the draw
page does. The tags are this project's reading of school forms, not a survey.

Coordinates: a template lives in a 100×100 box (x right, y down), written in
percent; a sample is in canvas units (0..1, y down), like ``tests.drawings``.
"""

from dataclasses import dataclass

import numpy as np

TRADITIONS = ("american", "british", "european", "indian", "east_asian")
ALL = TRADITIONS


@dataclass(frozen=True)
class Form:
    """One allograph: ``strokes`` are strings of "x,y" control points in percent.

    A point ending in "!" is a corner (the curve stops and turns there); the
    others are passed through smoothly (Catmull-Rom).
    """

    name: str
    digit: int
    traditions: tuple
    strokes: tuple


def _form(name, traditions, *strokes):
    return Form(name, int(name[0]), tuple(traditions), tuple(strokes))


AM, BR, EU, IN, EA = TRADITIONS
OVAL = "50,8 32,17 24,44 29,76 48,92 67,82 76,52 71,22 54,8 44,12"

FORMS = (
    _form("0-oval", ALL, OVAL),
    _form("0-slashed", (EU, BR), OVAL, "73,12 27,88"),
    _form("1-stick", (AM, IN, EA), "52,8 50,92"),
    _form("1-flag", (AM, BR, IN, EA), "36,26 54,8! 54,92"),
    _form("1-tall-flag", (EU,), "24,52 56,8! 56,92"),
    _form("1-flag-foot", (EU, BR, EA), "34,28 54,8! 54,92", "32,92 76,92"),
    _form("2-plain", ALL, "26,28 34,14 50,8 66,14 72,28 66,44 26,90! 78,90"),
    _form("2-looped", (EU, IN),
          "26,28 36,13 52,8 68,16 70,32 58,52 40,72 30,82 24,90 28,96 36,94 36,87 30,86 "
          "34,92 48,92 78,90"),
    _form("3-round", ALL, "28,18 44,8 62,10 70,22 64,36 48,46! 66,52 74,68 68,86 50,93 32,90 "
          "24,80"),
    _form("3-flat-top", (EU, BR, EA), "26,8 74,8! 44,42! 62,46 74,62 70,82 52,93 34,90 24,80"),
    _form("4-closed", (AM, IN, EA), "62,8 22,64! 80,64", "64,34 64,94"),
    _form("4-open", (EU, BR), "32,8 28,58! 78,58", "66,20 66,94"),
    _form("4-open-one-stroke", (EU, IN, BR), "30,8 27,44 32,58 48,62 64,58 70,8! 70,94"),
    _form("5-two-strokes", ALL, "34,10 30,46! 46,40 62,42 72,56 72,74 60,90 42,94 26,86",
          "34,10 72,10"),
    _form("5-one-stroke", (AM, EA, IN), "72,8 34,8! 30,46! 46,40 62,42 72,56 72,74 60,90 "
          "42,94 26,86"),
    _form("6-round", ALL, "66,10 48,14 34,32 28,56 30,78 44,92 60,90 70,76 66,60 52,54 38,58 "
          "30,70"),
    _form("6-straight-stem", (EU, BR, EA), "62,6 40,50 32,76 38,90 52,94 64,84 62,68 50,62 "
          "38,68 34,78"),
    _form("7-plain", (AM, IN, EA), "22,10 78,10! 42,94"),
    _form("7-crossed", (EU, BR), "22,10 78,10! 44,94", "34,52 74,50"),
    _form("7-hook", (AM, IN), "20,26 25,12 36,8 52,12 66,12 78,8! 46,94"),
    _form("7-hook-crossed", (EU, BR, IN), "20,26 25,12 36,8 52,12 66,12 78,8! 46,94",
          "32,54 72,52"),
    _form("7-arched-crossed", (EU, IN), "18,30 30,12 50,8 68,14 76,22! 52,56 42,94",
          "30,58 68,56"),
    _form("8-figure", ALL, "66,16 50,8 34,14 34,30 50,46 66,60 70,78 56,93 40,93 30,80 34,62 "
          "50,46 64,32 66,16 58,9"),
    _form("8-two-circles", (EA, AM, EU), "50,8 34,14 32,30 50,44 68,30 66,14 50,8",
          "50,46 30,58 28,78 48,93 70,80 70,58 50,46"),
    _form("9-straight", ALL, "70,22 58,9 38,9 28,24 34,40 52,44 68,34 72,18! 70,94"),
    _form("9-hook", (EU, BR, IN), "70,22 58,9 38,9 28,24 34,40 52,44 68,34 72,18! 70,74 "
          "64,89 50,94 36,88"),
    _form("9-g", (EU, BR, IN), "70,22 58,9 38,9 28,24 34,40 52,44 68,34 72,18! 72,66 "
          "66,86 52,94 36,92 26,80 28,70"),
    _form("9-curved", (AM, EA), "70,22 58,9 38,9 28,24 34,40 52,44 68,34 72,18! 66,60 52,94"),
)
BY_NAME = {form.name: form for form in FORMS}


def select(traditions=None, exclude=(), shared=True):
    """The forms taught in any of ``traditions`` (None: all of them).

    Forms tagged with a tradition in ``exclude`` are left out, except those
    every tradition shares (the common forms: without them some digits would
    have no form at all). ``shared=False`` leaves the common forms out too,
    keeping only each tradition's distinctive ones.
    """
    unknown = set(traditions or ()) | set(exclude)
    if unknown - set(TRADITIONS):
        raise ValueError(f"unknown traditions {sorted(unknown - set(TRADITIONS))}; "
                         f"known: {TRADITIONS}")
    return tuple(f for f in FORMS
                 if (traditions is None or set(f.traditions) & set(traditions))
                 and (f.traditions == ALL and shared
                      or f.traditions != ALL and not set(f.traditions) & set(exclude)))


def control_points(stroke):
    """"x,y x,y! ..." → points (k, 2) in 0..1 and a corner flag (k,) bool."""
    words = stroke.split()
    corner = np.array([w.endswith("!") for w in words])
    points = np.array([[float(v) for v in w.rstrip("!").split(",")] for w in words]) / 100
    return points, corner


def catmull_rom(points, per_span=12):
    """A smooth curve (m, 2) through ``points`` (k, 2), end tangents from the end spans."""
    if len(points) < 3:
        t = np.linspace(0, 1, per_span + 1)[:, None]
        return points[0] + t * (points[-1] - points[0]) if len(points) == 2 else points
    padded = np.vstack([2 * points[0] - points[1], points, 2 * points[-1] - points[-2]])
    t = np.linspace(0, 1, per_span, endpoint=False)[:, None]
    t2, t3 = t * t, t * t * t
    pieces = []
    for p0, p1, p2, p3 in zip(padded, padded[1:], padded[2:], padded[3:]):
        pieces.append(0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2
                             + (3 * p1 - p0 - 3 * p2 + p3) * t3))
    return np.vstack(pieces + [points[-1:]])


def curve(points, corner, per_span=12):
    """The pen's path (m, 2) through control points, smooth except at the corners."""
    cuts = [0, *np.flatnonzero(corner[1:-1]) + 1, len(points) - 1]
    parts = [catmull_rom(points[a:b + 1], per_span) for a, b in zip(cuts, cuts[1:])]
    return np.vstack([parts[0]] + [p[1:] for p in parts[1:]])


@dataclass(frozen=True)
class Variation:
    """How far a sample strays from its template; ranges are uniform unless noted."""

    jitter: float = 0.035            # s.d. of each control point's shift, digit heights
    slant: tuple = (-0.15, 0.35)     # horizontal shear (top to the right: +); few lean left
    rotation_degrees: float = 6.0
    aspect: tuple = (0.7, 1.35)      # width scale (log-uniform)
    height: tuple = (0.3, 0.85)      # digit height, fraction of the canvas side
    centred: float = 0.5             # fraction placed near the middle; the rest anywhere
    spacing: tuple = (0.004, 0.035)  # pen speed: canvas units between reported points
    tremor: tuple = (0.0, 0.004)     # s.d. of hand shake, canvas units
    margin: float = 1 / 28           # half the pen: ink stays on the canvas


def _resample(path, spacing, rng):
    """Points along ``path`` (m, 2) about ``spacing`` apart (varying ±40 %), ends kept."""
    steps = np.hypot(*np.diff(path, axis=0).T)
    along = np.concatenate([[0], np.cumsum(steps)])
    if along[-1] <= spacing:
        return path[[0, -1]]
    gaps = spacing * rng.uniform(0.6, 1.4, int(along[-1] / (0.6 * spacing)) + 2)
    marks = np.cumsum(gaps)
    marks = np.concatenate([[0], marks[marks < along[-1]], [along[-1]]])
    return np.stack([np.interp(marks, along, path[:, 0]), np.interp(marks, along, path[:, 1])],
                    axis=1)


def _tremor(points, amount, rng):
    """Hand shake: noise smoothed over neighbouring points, ends included."""
    noise = rng.normal(0, amount, points.shape)
    if len(points) >= 3:
        noise[1:-1] = (noise[:-2] + 2 * noise[1:-1] + noise[2:]) / 2
    return points + noise


def sample(form, rng, variation=Variation()):
    """One random drawing of ``form``: a list of strokes, each (k, 2) in canvas units.

    The control points are jittered, the whole digit stretched, slanted,
    rotated, sized and placed, and each stroke is reported at a random pen
    speed with tremor, then clipped to the canvas as the page clips pointers.
    """
    v = variation
    paths = []
    for stroke in form.strokes:
        points, corner = control_points(stroke)
        points = points + rng.normal(0, v.jitter, points.shape)
        paths.append(curve(points, corner) - 0.5)
    width = np.exp(rng.uniform(*np.log(v.aspect)))
    slant = rng.uniform(*v.slant)
    angle = np.radians(rng.uniform(-v.rotation_degrees, v.rotation_degrees))
    cos, sin = np.cos(angle), np.sin(angle)
    linear = np.array([[cos, -sin], [sin, cos]]) @ np.array([[width, -slant], [0, 1]])
    paths = [p @ linear.T for p in paths]
    every = np.vstack(paths)
    low, high = every.min(axis=0), every.max(axis=0)
    scale = rng.uniform(*v.height) / max(high[1] - low[1], 1e-6)
    room = 1 - 2 * v.margin
    scale = min(scale, room / max(high[0] - low[0], 1e-6), room / max(high[1] - low[1], 1e-6))
    size = (high - low) * scale
    free = room - size
    if rng.random() < v.centred:
        offset = v.margin + free / 2 + rng.normal(0, 0.03, 2)
    else:
        offset = v.margin + free * rng.random(2)
    spacing, tremor = rng.uniform(*v.spacing), rng.uniform(*v.tremor)
    strokes = []
    for p in paths:
        placed = (p - low) * scale + offset
        strokes.append(np.clip(_tremor(_resample(placed, spacing, rng), tremor, rng), 0, 1))
    return strokes
