"""Photos of digits on paper, made for the tests: what a phone's camera gives the app.

Each photo is made with Pillow from nothing: a sheet of slightly warm paper
with sensor grain, optionally ruled (pale blue lines and a red margin, as in
an exercise book), a digit either handwritten in pen (the stroke paths of
``tests.drawings``, wobbling and of uneven pressure) or printed (Pillow's own
scalable font), optionally a shadow falling across the sheet, and optionally
stored sideways with an EXIF orientation tag, as phones do. Returned as JPEG
(or PNG) bytes, as an upload would arrive.
"""

import io
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tests.drawings import BASE

PAPER = (242, 238, 228)
RULE = (150, 185, 215)          # an exercise book's pale blue lines
MARGIN = (215, 120, 120)        # and its red margin
PEN = (28, 32, 60)              # a blue-black ballpoint
EXIF_ORIENTATION = 0x0112


def photo(digit, *, printed=False, lined=False, shadow=False, specks=False, exif=None,
          size=(900, 1200), fmt="JPEG", seed=0):
    """A photo of ``digit`` (0-9) on paper, as bytes.

    ``exif`` is an EXIF orientation (6: the phone was held turned right, 8: left,
    3: upside down): the pixels are stored turned and the tag says how to turn
    them back.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    sheet = Image.new("RGB", size, PAPER)
    draw = ImageDraw.Draw(sheet)
    if lined:
        spacing = height // 14
        for y in range(spacing // 2, height, spacing):
            draw.line([(0, y), (width, y + rng.integers(-2, 3))], fill=RULE, width=3)
        draw.line([(width // 9, 0), (width // 9, height)], fill=MARGIN, width=3)
    box = (width * 0.3, height * 0.32, width * 0.72, height * 0.68)
    if printed:
        font = ImageFont.load_default(size=round(box[3] - box[1]))
        draw.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), str(digit), fill=PEN,
                  font=font, anchor="mm")
    else:
        handwrite(draw, BASE[str(digit)][1], box, rng)
    if specks:                  # dirt: a few dots of ink well away from the digit
        for x, y in ((0.12, 0.2), (0.85, 0.15), (0.9, 0.9), (0.2, 0.88)):
            r = width * 0.006
            draw.ellipse((x * width - r, y * height - r, x * width + r, y * height + r), fill=PEN)
    pixels = np.asarray(sheet, dtype=np.float32)
    if shadow:
        pixels *= shadow_gradient(height, width)[..., None]
    pixels += rng.normal(0, 4, pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    options = {}
    if exif:
        image = image.transpose({6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270,
                                 3: Image.Transpose.ROTATE_180}[exif])
        tags = Image.Exif()
        tags[EXIF_ORIENTATION] = exif
        options["exif"] = tags.tobytes()
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": 88} if fmt == "JPEG" else {}), **options)
    return buffer.getvalue()


def handwrite(draw, strokes, box, rng):
    """The strokes (canvas units) drawn with a pen into ``box`` on the sheet, wobbling a little."""
    left, top, right, bottom = box
    side = min(right - left, bottom - top)
    pen = max(3, round(side / 22))
    for stroke in strokes:
        points = []
        for x, y in densify(stroke):
            wobble = rng.normal(0, side * 0.004, 2)
            points.append((left + x * side + wobble[0], top + y * side + wobble[1]))
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            width = max(2, round(pen * rng.uniform(0.75, 1.1)))
            draw.line([(x0, y0), (x1, y1)], fill=PEN, width=width)
            draw.ellipse((x1 - width / 2, y1 - width / 2, x1 + width / 2, y1 + width / 2),
                         fill=PEN)


def densify(stroke, step=0.01):
    """The stroke's points with extra ones every ``step`` canvas units, for an even pen."""
    points = [stroke[0]]
    for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]):
        n = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / step))
        points += [(x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n) for i in range(1, n + 1)]
    return points


def shadow_gradient(height, width, darkest=0.42):
    """Brightness (h, w): a hand's soft shadow across the lower left, down to ``darkest``."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    t = np.clip((ys / height - xs / width * 0.6 - 0.1) * 1.6, 0, 1)
    return 1 - (1 - darkest) * t
