"""Small PNG data URLs for the page: the 28×28 input the network saw, a unit's weights.

The browser upscales them with ``image-rendering: pixelated``, so each stays
784 pixels (a few hundred bytes) and the page shows every pixel crisply.
A data URL keeps a drawing's picture inside its HTML fragment; the CSP
allows ``img-src data:`` for exactly this.
"""

import base64
import io

import numpy as np
from PIL import Image

# Diverging colour ramp for signed weights: blue (inhibits) ← white (0) → red (excites).
NEGATIVE = np.array([33, 102, 172], dtype=np.float32)
ZERO = np.array([247, 247, 247], dtype=np.float32)
POSITIVE = np.array([178, 24, 43], dtype=np.float32)


def png_bytes(pixels):
    """uint8 pixels (h, w) or (h, w, 3) → PNG file bytes."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, "PNG", optimize=False)
    return buffer.getvalue()


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
