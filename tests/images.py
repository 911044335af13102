"""Image files for the web tests: good drawings and the bad uploads the app must refuse.

Good ones come from ``tests.drawings`` (stroke paths rendered like the draw
page's canvas); ``BAD_UPLOADS`` lists broken or hostile bodies with the
status each must get, shared by the preprocessing, page and API tests.
"""

import base64
import io
import struct
import zlib
from functools import cache

from PIL import Image

from tests.drawings import BASE, NOT_DIGITS, render


def encode(image, fmt="PNG", **options):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def drawing(name="7"):
    """The named drawing of ``tests.drawings.BASE`` (or ``NOT_DIGITS``) as a 280×280
    black-on-white PNG."""
    return render(NOT_DIGITS[name] if name in NOT_DIGITS else BASE[name][1])


def blank(size=280, colour="white", mode="RGB"):
    return encode(Image.new(mode, (size, size), colour))


def png_chunk(kind, data):
    """One PNG chunk: length, type, data and CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width, height, idat):
    """A greyscale 8-bit PNG from its compressed pixel data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def header_only_png(width, height):
    """A few dozen bytes whose header claims ``width``×``height`` pixels."""
    return _png(width, height, zlib.compress(b"\x00" * 64))


@cache
def bomb_png(side=12000):
    """A complete ``side``² PNG of about 140 kB: black rows, compressed row by row."""
    compressor = zlib.compressobj(9)
    row = bytes(side + 1)                 # filter byte + pixels
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    return _png(side, side, idat)


def animated_png():
    frames = [Image.new("L", (64, 64), v) for v in (0, 255)]
    return encode(frames[0], "PNG", save_all=True, append_images=frames[1:])


# (id, body, content type, expected status, a word the message must contain)
BAD_UPLOADS = [
    ("not-an-image", b"hello, this is text", "image/png", 400, "not a PNG or JPEG"),
    ("truncated-png", drawing()[:300], "image/png", 400, "truncated"),
    ("truncated-jpeg", encode(Image.new("L", (64, 64), 255), "JPEG")[:200], "image/jpeg", 400,
     "truncated"),
    ("empty-body", b"", "image/png", 400, "empty"),
    ("one-pixel", blank(1), "image/png", 400, "at least"),
    ("huge-dimensions", header_only_png(12000, 12000), "image/png", 400, "megapixels"),
    ("gif", encode(Image.new("L", (64, 64), 255), "GIF"), "image/png", 415, "GIF"),
    ("bmp", encode(Image.new("L", (64, 64), 255), "BMP"), "image/png", 415, "BMP"),
    ("animated-png", animated_png(), "image/png", 415, "Animated"),
]


def data_url(png, kind="png"):
    """Image bytes as the ``data:`` URL the canvas sends (``kind``: png or jpeg)."""
    return f"data:image/{kind};base64," + base64.b64encode(png).decode()
