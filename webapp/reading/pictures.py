"""Small PNG data URLs for the page: the 28×28 input the network saw, a unit's weights.

The browser upscales them with ``image-rendering: pixelated``, so each stays
784 pixels (a few hundred bytes) and the page shows every pixel crisply.
A data URL keeps a drawing's picture inside its HTML fragment; the CSP
allows ``img-src data:`` for exactly this.
"""

import base64
import struct
import zlib

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Diverging colour ramp for signed weights: blue (inhibits) ← white (0) → red (excites).
NEGATIVE = np.array([33, 102, 172], dtype=np.float32)
ZERO = np.array([247, 247, 247], dtype=np.float32)
POSITIVE = np.array([178, 24, 43], dtype=np.float32)


def png_bytes(pixels):
    """uint8 pixels (h, w) grey or (h, w, 3) RGB → PNG file bytes.

    Written here rather than by Pillow: for pictures this small (784 pixels)
    Pillow's encoder set-up costs more than the pixels (about 0.1 ms a
    picture against 0.02 ms), and a reading with its why panels makes three.
    """
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width = pixels.shape[:2]
    rows = np.zeros((height, 1 + pixels[0].size), dtype=np.uint8)   # filter byte 0 per row
    rows[:, 1:] = pixels.reshape(height, -1)
    header = struct.pack(">IIBBBBB", width, height, 8, 0 if pixels.ndim == 2 else 2, 0, 0, 0)
    return (PNG_SIGNATURE + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + _chunk(b"IEND", b""))


def _chunk(kind, body):
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(body, zlib.crc32(kind))))


def png_data_url(pixels):
    """uint8 pixels (h, w) or (h, w, 3) → ``data:image/png;base64,...``."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(pixels)).decode("ascii")


def ink_pixels(image):
    """An input (28, 28) in [0, 1], white ink on black → uint8 grey, dark ink on white."""
    return (255 - np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def ink_data_url(image):
    """An input (28, 28) in [0, 1], white ink on black → PNG data URL, dark ink on white."""
    return png_data_url(ink_pixels(image))


def ink_png(image):
    """The same picture as PNG file bytes."""
    return png_bytes(ink_pixels(image))


def weights_data_url(weights):
    """Signed weights (28, 28) → PNG data URL, blue negative, white zero, red positive.

    Scaled to the unit's own range (its 99th-percentile magnitude, so one
    extreme weight does not wash out the pattern), through a square root so
    the weaker half of the pattern still shows.
    """
    scale = float(np.percentile(np.abs(weights), 99)) or 1.0
    t = np.clip(weights / scale, -1, 1)
    t = (np.sign(t) * np.sqrt(np.abs(t))).astype(np.float32)[..., None]
    colours = np.where(t >= 0, ZERO + t * (POSITIVE - ZERO), ZERO - t * (NEGATIVE - ZERO))
    return png_data_url(colours.round().astype(np.uint8))
