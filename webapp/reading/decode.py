"""From uploaded PNG/JPEG bytes to the 28×28 image MNIST's own recipe would make of them.

This is the step peers get wrong ("99 % on the test set but wrong on my
digits"), so it follows how MNIST itself was made: the ink's bounding box is
scaled so its longer side is 20 px (aspect ratio kept, anti-aliased) and
pasted into a 28×28 field with its centre of mass at the centre. Before that
come the things a canvas or a photo adds and MNIST never had: alpha, dark ink
on a light background, faint noise, a drawing that is empty or a speck, and
strokes far too thick for the digit's size (a small digit drawn with the
canvas's fixed pen), which are thinned towards MNIST's stroke width.

libspng (pyspng) decodes the PNGs it can read exactly as Pillow would, after
this module has read the file's header itself; Pillow decodes JPEGs and the
rest, and resamples; NumPy measures. Nothing here knows about Flask or the
network. Images are float32 arrays: luminance in [0, 255] while
decoding, then ink in [0, 1] (white ink on black, MNIST's polarity).
Hostile or broken input raises an ``ImageError`` (a ``ValueError``) whose
message a person can act on and whose ``status`` is the HTTP code to answer.
"""

import io
import struct
import warnings
import zlib
from dataclasses import dataclass

import numpy as np
import pyspng
from PIL import Image, ImageFilter

MAX_BYTES = 512 * 1024            # a 280×280 canvas PNG is 5–30 kB; a photo at ~1600 px fits
MAX_PIXELS = 2048 * 2048          # decoded size limit, checked before any pixel is decoded
MIN_SIDE = 16                     # smaller images cannot hold a legible digit
WORK_SIDE = 140                   # larger images are box-averaged to about this before analysis

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

# Pillow only raises above twice MAX_IMAGE_PIXELS and merely warns above it;
# lower the limit and make the warning an error so a small file that decodes
# to a huge image is refused before its pixels are allocated.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
warnings.simplefilter("error", Image.DecompressionBombWarning)

BLANK = "The image is blank."
TOO_LITTLE_INK = "There is too little ink to read: draw the digit larger."

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SIGNATURES = {PNG_SIGNATURE: "PNG", b"\xff\xd8\xff": "JPEG"}
OTHER_FORMATS = {b"GIF87a": "GIF", b"GIF89a": "GIF", b"BM": "BMP", b"II*\x00": "TIFF",
                 b"MM\x00*": "TIFF", b"\x00\x00\x01\x00": "ICO", b"<svg": "SVG", b"<?xml": "SVG",
                 b"\x00\x00\x00\x0cjP": "JPEG 2000", b"\x97JB2": "JBIG2"}
CORRUPT = ("The image could not be decoded: it is truncated or corrupt. "
           "Send a complete PNG or JPEG.")

# Pillow's convert("L") weights (ITU-R 601-2 luma in 16-bit fixed point), so both
# decoders give the same grey for the same colour.
LUMA = np.array([19595, 38470, 7471], dtype=np.float32) / np.float32(65536)


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
    """PNG or JPEG bytes → luminance (h, w) float32 in [0, 255], transparency flattened.

    Large images come back box-averaged to about ``WORK_SIDE`` px (see ``_luminance``).
    """
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
    if data.startswith(PNG_SIGNATURE):
        lum = _decode_png(data)
        if lum is not None:
            return lum
    try:
        with Image.open(io.BytesIO(data), formats=["PNG", "JPEG"]) as im:
            _check_geometry(*im.size, getattr(im, "n_frames", 1))
            im.load()
            return _luminance(im)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"The image's dimensions are too large; the limit is "
                         f"{MAX_PIXELS // 1_000_000} megapixels.") from None
    except Exception:  # noqa: BLE001 - a hostile file can make a decoder raise anything
        raise ImageError(CORRUPT) from None


def _check_geometry(width, height, frames=1):
    """Refuse sizes and animations before any pixels are allocated."""
    if width * height > MAX_PIXELS:
        raise ImageError(f"The image is {width}×{height} pixels; the limit is "
                         f"{MAX_PIXELS // 1_000_000} megapixels. Send a smaller one.")
    if min(width, height) < MIN_SIDE:
        raise ImageError(f"The image is {width}×{height} pixels; a digit needs at least "
                         f"{MIN_SIDE}×{MIN_SIDE}.")
    if frames > 1:
        raise UnsupportedImage("Animated images are not accepted: send a single-frame PNG.")


@dataclass(frozen=True)
class PngHeader:
    """What a PNG says about itself: IHDR's fields and its chunks, read without decoding.

    ``chunks`` maps each chunk type before the first IDAT to its data;
    ``kinds`` holds the type of every chunk in the file.
    """

    width: int
    height: int
    bit_depth: int
    colour_type: int
    chunks: dict
    kinds: frozenset


def png_header(data):
    """The header of PNG ``data`` read from the bytes, or None when it is not well formed.

    Walks the chunks, checking the CRC of each one before the first IDAT as
    Pillow does; nothing is decompressed. None (truncated before the pixels,
    a bad CRC, IHDR not first or malformed) sends the file to Pillow, which
    says what is wrong with it.
    """
    chunks, kinds, position = {}, set(), len(PNG_SIGNATURE)
    while position + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        end = position + 12 + length
        if end > len(data):
            break
        if b"IDAT" not in kinds:
            if kind != b"IDAT":
                body = data[position + 8:end - 4]
                if zlib.crc32(body, zlib.crc32(kind)) != int.from_bytes(data[end - 4:end], "big"):
                    return None
                if (kind == b"IHDR") != (not chunks) or (kind == b"IHDR" and length != 13):
                    return None
                chunks.setdefault(kind, body)
        kinds.add(kind)
        position = end
        if kind == b"IEND":
            break
    if b"IHDR" not in chunks or b"IDAT" not in kinds:
        return None
    width, height, bit_depth, colour_type = struct.unpack_from(">IIBB", chunks[b"IHDR"])
    return PngHeader(width, height, bit_depth, colour_type, chunks, frozenset(kinds))


# libspng's output format per IHDR colour type: grey stays grey (16-bit as grey +
# alpha), palette expands to RGB, alpha and 16-bit colour come as RGBA8 (libspng
# keeps the high byte of a 16-bit sample, as Pillow does).
SPNG_FORMATS = {0: None, 2: None, 3: None, 4: "RGBA", 6: "RGBA"}
# Left to Pillow: transparency by colour key, animation, and compressed metadata
# (libspng would inflate it up to 64 MB; Pillow stops at 1 MB).
PILLOW_CHUNKS = {b"tRNS", b"acTL", b"iCCP", b"zTXt", b"iTXt"}


def _decode_png(data):
    """PNG bytes → luminance like ``_luminance``'s, by libspng; None to leave it to Pillow.

    The header is read first, so an oversized or animated image is refused
    before anything is decompressed. The chunks in ``PILLOW_CHUNKS`` and any
    file libspng refuses go to Pillow: rare, and Pillow's reading of them is
    the reference.
    """
    header = png_header(data)
    if header is None:
        return None
    frames = 1
    if b"acTL" in header.chunks:
        frames = int.from_bytes(header.chunks[b"acTL"][:4], "big")
    _check_geometry(header.width, header.height, frames)
    if header.kinds & PILLOW_CHUNKS or header.colour_type not in SPNG_FORMATS:
        return None
    fmt = SPNG_FORMATS[header.colour_type]
    if header.colour_type == 2 and header.bit_depth == 16:
        fmt = "RGBA"
    try:
        pixels = pyspng.load(data, fmt)
    except (RuntimeError, ValueError):
        return None
    if pixels.shape[:2] != (header.height, header.width):
        return None
    return pixel_luminance(pixels)


def pixel_luminance(pixels):
    """Decoded pixels → luminance float32 (h', w') in [0, 255], alpha flattened, shrunk.

    ``pixels`` are uint8 grey (h, w), RGB (h, w, 3) or RGBA (h, w, 4), or
    16-bit grey as uint16 (h, w, 2) with an opaque alpha. The same result as
    ``_luminance`` gives for the Pillow image of the same file (to within a
    grey level: Pillow rounds each step to integers), computed on the shrunk
    image where the arithmetic allows: a mean of greys is the grey of the means.
    """
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    factor = max(1, min(pixels.shape[:2]) // WORK_SIDE)
    channels = pixels.shape[2]
    if pixels.dtype == np.uint16:
        weights = [[255 / 65535], [0]]
    elif channels == 1:
        weights = [[1]]
    elif channels == 3:
        weights = LUMA[:, None]
    elif pixels[..., 3].min() == 255:        # a canvas filled edge to edge (the draw page's)
        weights = np.append(LUMA, 0)[:, None]
    else:
        alpha = pixels[..., 3] * np.float32(1 / 255)
        lum = pixels[..., :3] @ LUMA
        # Pillow averages alpha images premultiplied; so does this.
        premultiplied, alpha = np.moveaxis(box_average(
            np.stack([lum * alpha, alpha], axis=-1), factor, np.eye(2, dtype=np.float32)), -1, 0)
        lum = np.divide(premultiplied, alpha, out=np.zeros_like(alpha), where=alpha > 0)
        return flatten_alpha(lum, alpha)
    return box_average(pixels, factor, weights)[..., 0]


def box_average(pixels, factor, weights):
    """Pixels (h, w, c) → float32 (⌈h/f⌉, ⌈w/f⌉, k): the mean of each ``factor``² block,
    its channels mixed by ``weights`` (c, k).

    Rows are summed as whole slices; a row's ``factor`` neighbouring pixels
    are then side by side in memory, so one matrix product averages them and
    mixes the channels at once. Blocks cut by the right or bottom edge average
    the pixels they hold, as Pillow's ``reduce`` does.
    """
    weights = np.asarray(weights, dtype=np.float32)
    if factor == 1:
        return pixels @ weights
    height, width, channels = pixels.shape
    rows, columns = -(-height // factor), -(-width // factor)
    cut = (rows * factor - height, columns * factor - width)
    if any(cut):
        pixels = np.pad(pixels, ((0, cut[0]), (0, cut[1]), (0, 0)))
    # Bytes sum exactly in 16 bits (factor ≤ 14 here), and cheaper than floats.
    total = pixels[0::factor].astype(np.uint16 if pixels.dtype == np.uint8 else np.float32)
    for offset in range(1, factor):
        total += pixels[offset::factor]
    mean = total.reshape(rows, columns, factor * channels).astype(np.float32) @ (
        np.tile(weights, (factor, 1)) / np.float32(factor * factor))
    if any(cut):
        held = (np.minimum(factor, height - factor * np.arange(rows))[:, None]
                * np.minimum(factor, width - factor * np.arange(columns)))
        mean *= (factor * factor / held).astype(np.float32)[..., None]
    return mean


def _luminance(im):
    """A loaded Pillow image → luminance float32 in [0, 255], alpha flattened, shrunk.

    Images larger than needed are box-averaged by a whole factor so their
    shorter side is about ``WORK_SIDE`` px: a 280 px canvas becomes 140 px,
    still 7 pixels per pixel of MNIST's 20 px box, and every later step has
    a quarter of the pixels to look at.
    """
    factor = min(im.size) // WORK_SIDE

    def shrink(image):
        return image.reduce(factor) if factor >= 2 else image

    if im.mode.startswith("I"):  # 16-bit greyscale PNG
        grey = shrink(Image.fromarray(np.asarray(im, dtype=np.float32) * np.float32(255 / 65535)))
        return np.asarray(grey, dtype=np.float32)
    # A canvas filled edge to edge (the draw page's) is RGBA with nothing transparent.
    opaque = im.mode == "RGBA" and im.getchannel("A").getextrema()[0] == 255
    if opaque or im.mode in ("L", "RGB", "CMYK", "YCbCr", "1") or (
            im.mode == "P" and "transparency" not in im.info):
        return np.asarray(shrink(im.convert("L")), dtype=np.float32)
    la = np.asarray(shrink(im.convert("RGBA").convert("LA")), dtype=np.float32)
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
    return np.clip(ink, 0, 1, out=ink)


def order_statistics(values, fractions):
    """The values at the given fractions (0..1) of the sorted ``values``, nearest rank.

    One ``np.partition`` instead of ``np.percentile``: the same numbers to
    within a grey level here, at a fraction of the per-call cost.
    """
    values = values.ravel()
    ranks = [round(f * (len(values) - 1)) for f in fractions]
    ordered = np.partition(values, ranks)
    return [float(ordered[r]) for r in ranks]


def normalise(lum):
    """Luminance (h, w) → ``Digit`` holding the 28×28 MNIST-style image, or why it is blank."""
    ink = to_ink(lum)
    crop = crop_to_ink(ink)
    if crop is None:
        return Digit(None, BLANK)
    if max(crop.shape) < MIN_EXTENT * max(ink.shape):
        return Digit(None, TOO_LITTLE_INK)
    return Digit(centre_by_mass(fit_box(crop)))


def crop_to_ink(ink):
    """The bounding box of ``ink`` (h, w) above the noise threshold, or None if there is none."""
    strokes = ink > NOISE
    rows, cols = np.flatnonzero(strokes.any(axis=1)), np.flatnonzero(strokes.any(axis=0))
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
    return np.clip(np.asarray(small, dtype=np.float32), 0, 1)


def stroke_width(strokes):
    """Mean width in pixels of the strokes in a boolean mask (h, w): 2 × area / perimeter."""
    area = int(strokes.sum())
    edges = (np.count_nonzero(strokes[1:] != strokes[:-1])
             + np.count_nonzero(strokes[:, 1:] != strokes[:, :-1])
             + strokes[0].sum() + strokes[-1].sum() + strokes[:, 0].sum() + strokes[:, -1].sum())
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
    mass = small.sum()
    ys, xs = np.arange(h), np.arange(w)
    cy = (small.sum(axis=1) @ ys) / mass
    cx = (small.sum(axis=0) @ xs) / mass
    top = min(max(round(FIELD_CENTRE - float(cy)), 0), field - h)
    left = min(max(round(FIELD_CENTRE - float(cx)), 0), field - w)
    image = np.zeros((field, field), dtype=np.float32)
    image[top:top + h, left:left + w] = small
    return image
