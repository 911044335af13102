"""Uploaded PNG/JPEG bytes → luminance: the decoders, their limits and their errors.

The first half of reading a drawing (``normalise`` is the second). libspng
(pyspng) decodes the PNGs it can read exactly as Pillow would, after this
module has read the file's header itself; Pillow decodes JPEGs and the rest,
turned upright as their EXIF orientation says.
Large images are box-averaged to about ``WORK_SIDE`` px on the way, and alpha
is flattened onto the paper, so what comes out is a float32 luminance array
(h, w) in [0, 255] whatever came in. Hostile or broken input raises an
``ImageError`` (a ``ValueError``) whose message a person can act on and whose
``status`` is the HTTP code to answer. Nothing here knows about Flask or the
network.
"""

import io
import struct
import warnings
import zlib
from dataclasses import dataclass

import numpy as np
import pyspng
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from PIL import Image, ImageOps

from ..config import MAX_UPLOAD_BYTES

MAX_BYTES = MAX_UPLOAD_BYTES      # the request limit too (config.MAX_CONTENT_LENGTH)
MAX_PIXELS = 2048 * 2048          # decoded size limit, checked before any pixel is decoded
# What decoding may produce, in bytes (width × height × channels × bytes per sample), so no
# image costs much more to read than a phone's photo (a 1600×1200 JPEG decodes to 5.5 MiB
# and reads in ~10 ms). A larger PNG is refused from its header; a larger JPEG is decoded
# at a half, quarter or eighth of its size by libjpeg's own scaling (Pillow's ``draft``).
MAX_DECODED_BYTES = 8 * 2**20
MIN_SIDE = 16                     # smaller images cannot hold a legible digit
WORK_SIDE = 140                   # larger images are box-averaged to about this before analysis


# Pillow only raises above twice MAX_IMAGE_PIXELS and merely warns above it;
# lower the limit and make the warning an error so a small file that decodes
# to a huge image is refused before its pixels are allocated.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
warnings.simplefilter("error", Image.DecompressionBombWarning)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SIGNATURES = {PNG_SIGNATURE: "PNG", b"\xff\xd8\xff": "JPEG"}
OTHER_FORMATS = {b"GIF87a": "GIF", b"GIF89a": "GIF", b"BM": "BMP", b"II*\x00": "TIFF",
                 b"MM\x00*": "TIFF", b"\x00\x00\x01\x00": "ICO", b"<svg": "SVG", b"<?xml": "SVG",
                 b"\x00\x00\x00\x0cjP": "JPEG 2000", b"\x97JB2": "JBIG2"}
CORRUPT = _l("The image could not be decoded: it is truncated or corrupt. "
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


def decode(data):
    """PNG or JPEG bytes → luminance (h, w) float32 in [0, 255], transparency flattened.

    Large images come back box-averaged to about ``WORK_SIDE`` px (see ``_luminance``).
    """
    if not data:
        raise ImageError(gettext("The image is empty: send the PNG or JPEG file's bytes."))
    if len(data) > MAX_BYTES:
        raise ImageTooLarge(gettext("The image is %(size)s KiB; the limit is %(limit)s KiB. "
                                    "Send a smaller PNG or JPEG.", size=len(data) // 1024,
                                    limit=MAX_BYTES // 1024))
    if not any(data.startswith(sig) for sig in SIGNATURES):
        other = next((name for sig, name in OTHER_FORMATS.items()
                      if data.lstrip()[:len(sig)] == sig), None)
        if other:
            raise UnsupportedImage(gettext("%(format)s images are not accepted: send a PNG or "
                                           "JPEG.", format=other))
        raise ImageError(gettext("This is not a PNG or JPEG image."))
    if data.startswith(PNG_SIGNATURE):
        lum = _decode_png(data)
        if lum is not None:
            return lum
    try:
        with Image.open(io.BytesIO(data), formats=["PNG", "JPEG"]) as im:
            _check_geometry(*im.size, getattr(im, "n_frames", 1))
            _check_cost(im)
            im.load()
            return _luminance(upright(im))
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(gettext("The image's dimensions are too large; the limit is "
                                 "%(limit)s megapixels.", limit=MAX_PIXELS // 1_000_000)) \
            from None
    except Exception:  # noqa: BLE001 - a hostile file can make a decoder raise anything
        raise ImageError(str(CORRUPT)) from None


def _check_geometry(width, height, frames=1):
    """Refuse sizes and animations before any pixels are allocated."""
    if width * height > MAX_PIXELS:
        raise ImageError(gettext("The image is %(width)s×%(height)s pixels; the limit is "
                                 "%(limit)s megapixels. Send a smaller one.", width=width,
                                 height=height, limit=MAX_PIXELS // 1_000_000))
    if min(width, height) < MIN_SIDE:
        raise ImageError(gettext("The image is %(width)s×%(height)s pixels; a digit needs at "
                                 "least %(side)s×%(side)s.", width=width, height=height,
                                 side=MIN_SIDE))
    if frames > 1:
        raise UnsupportedImage(gettext("Animated images are not accepted: send a single-frame "
                                       "PNG."))


# Bytes per pixel of each Pillow mode a PNG or JPEG opens in (decoded, before conversion).
MODE_BYTES = {"1": 1, "L": 1, "P": 1, "LA": 2, "La": 2, "PA": 2, "RGB": 3, "YCbCr": 3,
              "RGBA": 4, "CMYK": 4, "I;16": 2, "I;16B": 2, "I": 4}
# A PNG's channels by IHDR colour type (grey, RGB, palette, grey + alpha, RGBA).
PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def too_costly(width, height, bytes_per_pixel, what):
    megabytes = width * height * bytes_per_pixel / 2**20
    return ImageError(f"The image is {width}×{height} pixels of {what}: {megabytes:.0f} MiB "
                      f"once decoded; the limit is {MAX_DECODED_BYTES // 2**20} MiB. Send it "
                      f"smaller, or as 8-bit greyscale or RGB.")


def _check_cost(im):
    """Keep what Pillow decodes under ``MAX_DECODED_BYTES``: a JPEG by decoding it smaller
    (libjpeg scales by 1/2, 1/4 or 1/8 as it decodes), anything else by refusing it."""
    per_pixel = MODE_BYTES.get(im.mode, 4)
    if im.width * im.height * per_pixel <= MAX_DECODED_BYTES:
        return
    if im.format == "JPEG":
        scale = 2
        while im.width * im.height * per_pixel > MAX_DECODED_BYTES * scale * scale and scale < 8:
            scale *= 2
        im.draft(im.mode, (im.width // scale, im.height // scale))
        return
    raise too_costly(im.width, im.height, per_pixel, im.mode)


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
# An eXIf chunk may turn the picture (a phone's orientation tag): Pillow reads it too.
PILLOW_CHUNKS = {b"tRNS", b"acTL", b"iCCP", b"zTXt", b"iTXt", b"eXIf"}


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
    depth = max(header.bit_depth, 8) // 8
    per_pixel = PNG_CHANNELS.get(header.colour_type, 4) * depth
    if header.width * header.height * per_pixel > MAX_DECODED_BYTES:
        kind = {0: "greyscale", 2: "RGB", 3: "palette colour", 4: "greyscale with alpha",
                6: "RGBA"}.get(header.colour_type, "colour")
        raise too_costly(header.width, header.height, per_pixel, f"{8 * depth}-bit {kind}")
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
        if factor > 1:
            # Pillow's reduce averages RGBA premultiplied, as ``_luminance``'s does, in C and
            # in integers: no float touches the full-size image (4× faster than NumPy's
            # premultiplying here, which made a large transparent PNG the costliest image).
            height, width = pixels.shape[:2]
            pixels = np.asarray(Image.frombuffer("RGBA", (width, height),
                                                 np.ascontiguousarray(pixels), "raw", "RGBA",
                                                 0, 1).reduce(factor))
        return flatten_alpha(pixels[..., :3] @ LUMA, pixels[..., 3] * np.float32(1 / 255))
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
    # Bytes sum exactly in 16 bits (factor ≤ 14 here), 16-bit values in 32, cheaper than floats.
    total = pixels[0::factor].astype({np.dtype(np.uint8): np.uint16,
                                      np.dtype(np.uint16): np.uint32}.get(pixels.dtype,
                                                                           np.float32))
    for offset in range(1, factor):
        part = pixels[offset::factor]
        total[:len(part)] += part          # the last block row may be cut short
    cut = (rows * factor - height, columns * factor - width)
    if cut[1]:                             # padded once summed: a factor's fewer pixels
        total = np.pad(total, ((0, 0), (0, cut[1]), (0, 0)))
    mean = total.reshape(rows, columns, factor * channels).astype(np.float32) @ (
        np.tile(weights, (factor, 1)) / np.float32(factor * factor))
    if any(cut):
        held = (np.minimum(factor, height - factor * np.arange(rows))[:, None]
                * np.minimum(factor, width - factor * np.arange(columns)))
        mean *= (factor * factor / held).astype(np.float32)[..., None]
    return mean


def upright(im):
    """The image turned as its EXIF orientation tag says (a phone's photo held sideways).

    A tag that cannot be read leaves the image as it is: the pixels are still
    a picture, and a wrong turn reads worse than none only for the odd file.
    """
    try:
        return ImageOps.exif_transpose(im)
    except (ValueError, TypeError, KeyError, OSError, SyntaxError):
        return im


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
