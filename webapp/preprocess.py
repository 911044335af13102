"""From uploaded PNG/JPEG bytes to the 28×28 image MNIST's own recipe would make of them.

This is the step peers get wrong ("99 % on the test set but wrong on my
digits"), so it follows how MNIST itself was made: the ink's bounding box is
scaled so its longer side is 20 px (aspect ratio kept, anti-aliased) and
pasted into a 28×28 field with its centre of mass at the centre. Before that
come the things a canvas or a photo adds and MNIST never had: alpha, dark ink
on a light background, faint noise, and a drawing that is empty or a speck.

Pillow decodes and resamples, NumPy measures; nothing here knows about Flask
or the network. Images are float32 arrays: luminance in [0, 255] while
decoding, then ink in [0, 1] (white ink on black, MNIST's polarity).
Hostile or broken input raises an ``ImageError`` (a ``ValueError``) whose
message a person can act on and whose ``status`` is the HTTP code to answer.
"""

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image

MAX_BYTES = 512 * 1024            # a 280×280 canvas PNG is 5–30 kB; a photo of ~1600 px fits
MAX_PIXELS = 2048 * 2048          # decoded size limit, checked before any pixel is decoded
MIN_SIDE = 16                     # smaller images cannot hold a legible digit

FIELD, BOX = 28, 20               # MNIST: a 20×20 box centred by mass in a 28×28 field
FIELD_CENTRE = 14.0               # where MNIST's centres of mass sit (mean 13.99, 14.01)
NOISE = 0.25                      # ink below this (of the darkest stroke) does not count
MIN_CONTRAST = 48                 # grey levels between paper and ink; less is a blank page
MIN_EXTENT = 0.1                  # ink spanning less of the image than this is a speck

# Pillow only raises above twice MAX_IMAGE_PIXELS and merely warns above it;
# lower the limit and make the warning an error so a small file that decodes
# to a huge image is refused before its pixels are allocated.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
warnings.simplefilter("error", Image.DecompressionBombWarning)

BLANK = "The image is blank."
TOO_LITTLE_INK = "There is too little ink to read: draw the digit larger."

SIGNATURES = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG"}
OTHER_FORMATS = {b"GIF87a": "GIF", b"GIF89a": "GIF", b"BM": "BMP", b"II*\x00": "TIFF",
                 b"MM\x00*": "TIFF", b"\x00\x00\x01\x00": "ICO", b"<svg": "SVG", b"<?xml": "SVG",
                 b"\x00\x00\x00\x0cjP": "JPEG 2000", b"\x97JB2": "JBIG2"}


class ImageError(ValueError):
    """The upload cannot be read as a digit; ``str()`` says why and what to send instead."""

    status = 400


class ImageTooLarge(ImageError):
    status = 413


class UnsupportedImage(ImageError):
    status = 415


@dataclass(frozen=True)
class Digit:
    """A decoded drawing: the MNIST-style ``image`` (28, 28), or why there is none.

    ``image`` is float32 in [0, 1], white ink on black, before any deskewing;
    it is ``None`` exactly when ``blank`` holds a reason (empty canvas, a speck).
    """

    image: np.ndarray | None
    blank: str | None = None


def read_digit(data):
    """PNG or JPEG bytes → ``Digit``. Raises ``ImageError`` for anything unreadable."""
    return normalise(decode(data))


def decode(data):
    """PNG or JPEG bytes → luminance (h, w) float32 in [0, 255], transparency flattened."""
    if not data:
        raise ImageError("The image is empty: send the PNG or JPEG file's bytes.")
    if len(data) > MAX_BYTES:
        raise ImageTooLarge(f"The image is {len(data) // 1024} KiB; the limit is "
                            f"{MAX_BYTES // 1024} KiB. Send a smaller PNG or JPEG.")
    if not any(data.startswith(sig) for sig in SIGNATURES):
        other = next((name for sig, name in OTHER_FORMATS.items()
                      if data.lstrip()[:len(sig)] == sig), None)
        if other:
            raise UnsupportedImage(f"{other} images are not accepted: send a PNG or JPEG.")
        raise ImageError("This is not a PNG or JPEG image.")
    try:
        with Image.open(io.BytesIO(data), formats=["PNG", "JPEG"]) as im:
            _check_geometry(im)
            im.load()
            return _luminance(im)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"The image's dimensions are too large; the limit is "
                         f"{MAX_PIXELS // 1_000_000} megapixels.") from None
    except Exception:  # noqa: BLE001 - a hostile file can make a decoder raise anything
        raise ImageError("The image could not be decoded: it is truncated or corrupt. "
                         "Send a complete PNG or JPEG.") from None


def _check_geometry(im):
    """Refuse sizes and animations before ``load()`` allocates any pixels."""
    w, h = im.size
    if w * h > MAX_PIXELS:
        raise ImageError(f"The image is {w}×{h} pixels; the limit is "
                         f"{MAX_PIXELS // 1_000_000} megapixels. Send a smaller one.")
    if min(w, h) < MIN_SIDE:
        raise ImageError(f"The image is {w}×{h} pixels; a digit needs at least "
                         f"{MIN_SIDE}×{MIN_SIDE}.")
    if getattr(im, "n_frames", 1) > 1:
        raise UnsupportedImage("Animated images are not accepted: send a single-frame PNG.")


def _luminance(im):
    """A loaded Pillow image → luminance (h, w) float32 in [0, 255], alpha flattened."""
    if im.mode.startswith("I"):  # 16-bit greyscale PNG
        return np.asarray(im, dtype=np.float32) * np.float32(255 / 65535)
    if im.mode in ("L", "RGB", "CMYK", "YCbCr", "1") or (
            im.mode == "P" and "transparency" not in im.info):
        return np.asarray(im.convert("L"), dtype=np.float32)
    la = np.asarray(im.convert("RGBA").convert("LA"), dtype=np.float32)
    return flatten_alpha(la[..., 0], la[..., 1] / np.float32(255))


def flatten_alpha(lum, alpha):
    """Composite luminance (h, w) with opacity ``alpha`` (h, w) in [0, 1] onto its background.

    Transparent means background. When most of the image is opaque it has a
    background of its own (its median grey). When most of it is transparent,
    the opaque pixels are ink (a canvas drawn on a transparent sheet; their RGB
    under alpha 0 is usually black), and the sheet takes the colour opposite
    the ink, so black-on-transparent and white-on-transparent both read.
    """
    if alpha.min() >= 1:
        return lum
    opaque = alpha > 0.5
    if opaque.mean() > 0.5:
        background = float(np.median(lum[opaque]))
    else:
        weight = float(alpha.sum())
        ink = float((alpha * lum).sum()) / weight if weight else 0.0
        background = 255.0 if ink < 128 else 0.0
    return alpha * lum + (1 - alpha) * np.float32(background)


def to_ink(lum):
    """Luminance (h, w) → ink (h, w) float32 in [0, 1]: white on black, paper at 0, ink at 1.

    The paper's grey is the median of the image's border; light paper means
    dark ink, which is inverted. The range from paper to the strongest ink is
    stretched to [0, 1] so grey pencil on grey paper reads like a pen. A page
    with less than ``MIN_CONTRAST`` grey levels of ink is all zeros.
    """
    h, w = lum.shape
    ring = max(1, min(h, w) // 32)
    border = np.concatenate([lum[:ring].ravel(), lum[-ring:].ravel(),
                             lum[:, :ring].ravel(), lum[:, -ring:].ravel()])
    paper = float(np.median(border))
    ink = 255 - lum if paper > 127.5 else lum
    paper = 255 - paper if paper > 127.5 else paper
    peak = float(ink.max())
    if peak - paper < MIN_CONTRAST:
        return np.zeros_like(ink)
    ink = (ink - np.float32(paper)) * np.float32(1 / (peak - paper))
    return np.clip(ink, 0, 1, out=ink)


def normalise(lum):
    """Luminance (h, w) → ``Digit`` holding the 28×28 MNIST-style image, or why it is blank."""
    ink = to_ink(lum)
    strokes = ink > NOISE
    rows, cols = np.flatnonzero(strokes.any(axis=1)), np.flatnonzero(strokes.any(axis=0))
    if not rows.size:
        return Digit(None, BLANK)
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    if max(bottom - top, right - left) < MIN_EXTENT * max(ink.shape):
        return Digit(None, TOO_LITTLE_INK)
    return Digit(centre_by_mass(fit_box(ink[top:bottom, left:right])))


def fit_box(crop, box=BOX):
    """Ink (h, w) → (h', w') with the longer side ``box`` px, aspect kept, area-averaged.

    Scaling a float image keeps the anti-aliased grey levels MNIST has; a thin
    tall "1" stays thin and tall instead of being stretched into a blob.
    """
    h, w = crop.shape
    scale = box / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = Image.fromarray(np.ascontiguousarray(crop, dtype=np.float32)).resize(
        size, Image.Resampling.BOX)
    return np.clip(np.asarray(small, dtype=np.float32), 0, 1)


def centre_by_mass(small, field=FIELD):
    """Paste ink (h, w) into a ``field``×``field`` image with its centre of mass at the centre.

    The shift is whole pixels (as MNIST's was), clamped so no ink is cut off.
    """
    h, w = small.shape
    mass = small.sum()
    ys, xs = np.arange(h), np.arange(w)
    cy = (small.sum(axis=1) @ ys) / mass
    cx = (small.sum(axis=0) @ xs) / mass
    top = int(np.clip(round(FIELD_CENTRE - cy), 0, field - h))
    left = int(np.clip(round(FIELD_CENTRE - cx), 0, field - w))
    image = np.zeros((field, field), dtype=np.float32)
    image[top:top + h, left:left + w] = small
    return image
