"""Digits as a person draws them: stroke paths on a canvas, and a renderer for them.

Each drawing is a list of strokes; a stroke is a list of (x, y) points in
canvas units (0..1, y pointing down), in the order a pen would move. The set
covers the usual shapes and the styles MNIST rarely has (crossed 7, 1 with a
flag and a foot, 9 with a curled tail, closed 4), each also drawn small in a
corner and slanted, the way people really use the canvas. Used by the
preprocessing test (rendered with Pillow) and by the browser tests (drawn
with the mouse).
"""

import io
import math

from PIL import Image, ImageDraw


def arc(cx, cy, rx, ry, start, end, steps=24):
    """Points on an ellipse from angle ``start`` to ``end`` (degrees; y down, so clockwise)."""
    return [(cx + rx * math.cos(math.radians(start + (end - start) * i / steps)),
             cy + ry * math.sin(math.radians(start + (end - start) * i / steps)))
            for i in range(steps + 1)]


BASE = {
    "0": (0, [arc(0.5, 0.5, 0.2, 0.32, -90, 270)]),
    "0-round": (0, [arc(0.5, 0.5, 0.28, 0.3, -100, 265)]),
    "1": (1, [[(0.5, 0.15), (0.5, 0.85)]]),
    "1-flag": (1, [[(0.38, 0.3), (0.52, 0.15), (0.52, 0.85)]]),
    "1-flag-foot": (1, [[(0.38, 0.3), (0.52, 0.15), (0.52, 0.85)], [(0.38, 0.85), (0.66, 0.85)]]),
    "2": (2, [arc(0.5, 0.33, 0.18, 0.16, -170, 20) + [(0.3, 0.82), (0.74, 0.82)]]),
    "3": (3, [arc(0.48, 0.32, 0.17, 0.15, -160, 90) + arc(0.48, 0.66, 0.2, 0.19, -90, 160)]),
    "4": (4, [[(0.58, 0.15), (0.27, 0.62), (0.76, 0.62)], [(0.62, 0.36), (0.62, 0.88)]]),
    "4-open": (4, [[(0.33, 0.15), (0.31, 0.55), (0.74, 0.55)], [(0.64, 0.18), (0.64, 0.88)]]),
    "5": (5, [[(0.37, 0.18), (0.35, 0.46)] + arc(0.5, 0.63, 0.19, 0.18, -125, 150),
              [(0.37, 0.18), (0.7, 0.18)]]),
    "6": (6, [[(0.64, 0.14), (0.5, 0.22), (0.39, 0.36), (0.33, 0.53), (0.34, 0.68)]
              + arc(0.5, 0.67, 0.16, 0.16, 180, -180)]),
    "7": (7, [[(0.27, 0.18), (0.73, 0.18), (0.43, 0.86)]]),
    "7-crossed": (7, [[(0.27, 0.18), (0.73, 0.18), (0.43, 0.86)], [(0.44, 0.52), (0.71, 0.52)]]),
    "8": (8, [arc(0.5, 0.3, 0.15, 0.15, 90, 450), arc(0.5, 0.67, 0.18, 0.18, -90, 270)]),
    "9": (9, [arc(0.5, 0.33, 0.17, 0.16, 0, -360) + [(0.66, 0.86)]]),
    "9-curled": (9, [arc(0.5, 0.33, 0.17, 0.16, 0, -360)
                     + [(0.66, 0.76), (0.62, 0.84), (0.54, 0.87), (0.46, 0.84)]]),
}


def transformed(strokes, scale=1.0, dx=0.0, dy=0.0, shear=0.0):
    """Scale about the centre, shift, and slant (x moves by ``shear`` per unit up)."""
    return [[(0.5 + (x - 0.5) * scale + dx + shear * (0.5 - y) * scale,
              0.5 + (y - 0.5) * scale + dy) for x, y in stroke] for stroke in strokes]


def all_drawings():
    """{name: (digit, strokes)}: each base drawing as is, small in a corner, and slanted."""
    drawings = {}
    for name, (digit, strokes) in BASE.items():
        drawings[name] = (digit, strokes)
        drawings[name + "/small-corner"] = (digit, transformed(strokes, 0.38, -0.25, -0.25))
        drawings[name + "/slanted"] = (digit, transformed(strokes, 0.9, shear=0.25))
    return drawings


def render(strokes, size=280, pen=None):
    """Black strokes on a white ``size``² canvas, round caps and joins, as PNG bytes.

    ``pen`` defaults to size/14, the draw page's pen width.
    """
    pen = pen or round(size / 14)
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        points = [(x * size, y * size) for x, y in stroke]
        draw.line(points, fill="black", width=pen, joint="curve")
        for x, y in (points[0], points[-1]):
            draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill="black")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


# Drawings that are not digits, as a visitor scribbles them: a dense zigzag over most of
# the pad, and a few scattered dots and dashes.
NOT_DIGITS = {
    "scribble": [[(0.15 + 0.7 * (i % 2), 0.15 + 0.05 * i) for i in range(15)],
                 [(0.2 + 0.04 * i, 0.2 + 0.6 * (i % 2)) for i in range(16)]],
    "dots": [[(0.2, 0.2), (0.23, 0.21)], [(0.75, 0.3), (0.78, 0.31)], [(0.5, 0.55), (0.52, 0.55)],
             [(0.25, 0.8), (0.3, 0.82)], [(0.8, 0.82), (0.82, 0.8)]],
}
