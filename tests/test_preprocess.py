"""Preprocessing: any reasonable picture of a digit becomes the 28×28 image MNIST would have.

The complaints this guards against: alpha and colour mismatches, off-centre
or small drawings, thin "1"s stretched into blobs, blank canvases read as
digits, and decoders trusting hostile files.
"""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from model import mnist
from tests import images
from tests.drawings import BASE, render
from webapp.reading import decode, normalise
from webapp.reading.normalise import BLANK, TOO_LITTLE_INK, read_digit

FIXTURES = "tests/fixtures/t10k-500-images-idx3-ubyte.gz"


def pil(png):
    return Image.open(io.BytesIO(png))


def seven():
    return pil(images.drawing("7")).convert("L")


def with_alpha(ink_colour, background):
    """The 7 as ``ink_colour`` strokes on a transparent sheet whose hidden RGB is ``background``."""
    alpha = ImageOps.invert(seven())
    image = Image.new("RGBA", alpha.size, background + (0,))
    image.paste(Image.new("RGBA", alpha.size, ink_colour + (255,)), mask=alpha)
    return images.encode(image)


def read(png):
    digit = read_digit(png)
    assert digit.blank is None, digit.blank
    return digit.image


def test_output_is_mnist_shaped():
    image = read(images.drawing("7"))
    assert image.shape == (28, 28) and image.dtype == np.float32
    assert 0 <= image.min() and image.max() <= 1 and image.max() > 0.9
    # Corners are MNIST's black background.
    assert image[:3, :3].max() == 0 and image[-3:, -3:].max() == 0


@pytest.mark.parametrize("variant", [
    "black-on-white", "white-on-black", "black-on-transparent", "white-on-transparent",
    "black-on-transparent-white-rgb", "blue-on-yellow", "jpeg", "grey-pencil-on-grey-paper",
])
def test_every_way_of_writing_the_same_seven_gives_the_same_image(variant):
    reference = read(images.drawing("7"))
    grey = seven()
    pictures = {
        "black-on-white": lambda: images.drawing("7"),
        "white-on-black": lambda: images.encode(ImageOps.invert(grey)),
        # A canvas with nothing painted under the strokes: RGB black everywhere, alpha = ink.
        "black-on-transparent": lambda: with_alpha((0, 0, 0), (0, 0, 0)),
        "white-on-transparent": lambda: with_alpha((255, 255, 255), (0, 0, 0)),
        "black-on-transparent-white-rgb": lambda: with_alpha((0, 0, 0), (255, 255, 255)),
        "blue-on-yellow": lambda: images.encode(ImageOps.colorize(grey, "#1030c0", "#f8e860")),
        "jpeg": lambda: images.encode(grey, "JPEG", quality=80),
        "grey-pencil-on-grey-paper": lambda: images.encode(
            Image.fromarray(np.clip(np.asarray(grey) * 0.45 + 110
                                    + np.random.default_rng(0).normal(0, 4, grey.size[::-1]),
                                    0, 255).astype(np.uint8))),
    }
    image = read(pictures[variant]())
    assert np.abs(image - reference).mean() < 0.03, variant


def small_in_corner(name, scale=0.25):
    return [[(0.02 + x * scale, 0.72 + y * scale) for x, y in stroke] for stroke in BASE[name][1]]


def test_small_off_centre_drawing_is_scaled_and_centred_like_mnist():
    image = read(render(small_in_corner("3")))
    ink = image > normalise.NOISE
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 in (19, 20, 21)
    ys, xs = np.mgrid[0:28, 0:28]
    assert abs((image * ys).sum() / image.sum() - 14) <= 0.5
    assert abs((image * xs).sum() / image.sum() - 14) <= 0.5


@pytest.mark.parametrize("name", ["0", "3", "8", "9"])
def test_strokes_of_a_small_drawing_are_thinned_towards_mnist_width(name, monkeypatch):
    """With the canvas's fixed pen a small digit has fat strokes that close its loops."""
    full, small = read(images.drawing(name)), read(render(small_in_corner(name)))
    monkeypatch.setattr(normalise, "MAX_STROKE", float("inf"))
    unthinned = read(render(small_in_corner(name)))
    width = normalise.stroke_width
    assert width(small > 0.5) < min(width(unthinned > 0.5) - 1, normalise.MAX_STROKE + 0.5)
    assert np.abs(small - full).mean() < np.abs(unthinned - full).mean()
    # Thinned, not shrunk: the digit still spans MNIST's 20 px box.
    ink = small > 0
    assert max(ink.any(axis=0).sum(), ink.any(axis=1).sum()) >= 20


def test_a_thin_one_stays_thin():
    image = read(images.drawing("1"))
    columns = np.flatnonzero((image > normalise.NOISE).any(axis=0))
    rows = np.flatnonzero((image > normalise.NOISE).any(axis=1))
    assert rows[-1] - rows[0] + 1 >= 19
    assert columns[-1] - columns[0] + 1 <= 4


def test_mnist_digits_come_back_unchanged():
    """An MNIST image is already normalised: the recipe must reproduce it.

    Except the thickest 5 % or so, whose strokes it thins.
    """
    unchanged = 0
    for raw in mnist.read_idx(FIXTURES)[:100]:
        image = read(images.encode(Image.fromarray(raw)))
        if normalise.stroke_width(raw > 127) <= normalise.MAX_STROKE:
            unchanged += np.abs(image - raw / 255).mean() < 0.01
        else:
            assert normalise.stroke_width(image > 0.5) < normalise.stroke_width(raw > 127)
    assert unchanged >= 90


@pytest.mark.parametrize("png, reason", [
    (images.blank(), BLANK),
    (images.blank(colour="black"), BLANK),
    (images.blank(mode="RGBA", colour=(0, 0, 0, 0)), BLANK),
    (images.blank(mode="RGBA", colour=(255, 255, 255, 0)), BLANK),
    (render([[(0.5, 0.5)]]), TOO_LITTLE_INK),                          # a single click
    (images.encode(Image.fromarray(np.random.default_rng(1).integers(
        240, 256, (280, 280), dtype=np.uint8))), BLANK),              # paper grain, no ink
], ids=["white", "black", "transparent-black", "transparent-white", "dot", "paper-noise"])
def test_blank_and_near_blank_pictures_are_not_digits(png, reason):
    digit = read_digit(png)
    assert digit.image is None and digit.blank == reason


@pytest.mark.parametrize("case", images.BAD_UPLOADS, ids=[c[0] for c in images.BAD_UPLOADS])
def test_bad_uploads_raise_an_error_a_person_can_act_on(case):
    _, body, _, status, word = case
    with pytest.raises(decode.ImageError) as info:
        read_digit(body)
    assert info.value.status == status and word in str(info.value)
    assert isinstance(info.value, ValueError)


def test_decompression_bomb_is_refused_before_decoding():
    bomb = images.bomb_png()
    assert len(bomb) < 200_000
    with pytest.raises(decode.ImageError, match="megapixels"):
        read_digit(bomb)


def test_oversized_file_is_413():
    big = images.encode(Image.fromarray(np.random.default_rng(2).integers(
        0, 256, (800, 800), dtype=np.uint8)))
    assert len(big) > decode.MAX_BYTES
    with pytest.raises(decode.ImageTooLarge) as info:
        read_digit(big)
    assert info.value.status == 413 and "KiB" in str(info.value)


# -- PNGs read by libspng (pyspng) read as Pillow reads them ---------------------------------

def raw_png(pixels, colour_type, extra=b""):
    """A PNG of ``pixels`` (h, w[, c]) uint8 or uint16 as they are, ``extra`` chunks before IDAT."""
    h, w = pixels.shape[:2]
    depth = 16 if pixels.dtype == np.uint16 else 8
    rows = pixels.reshape(h, -1).astype(">u2" if depth == 16 else np.uint8)
    raw = b"".join(b"\0" + row.tobytes() for row in rows)
    header = struct.pack(">IIBBBBB", w, h, depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + images.png_chunk(b"IHDR", header) + extra
            + images.png_chunk(b"IDAT", zlib.compress(raw)) + images.png_chunk(b"IEND", b""))


def colour_seven():
    return ImageOps.colorize(seven(), "#1030c0", "#f8e860")


def transparent_seven():
    return Image.open(io.BytesIO(with_alpha((0, 0, 0), (0, 0, 0))))


def pillow_luminance(png):
    """What ``decode`` gave before libspng: Pillow's image through ``_luminance``."""
    with Image.open(io.BytesIO(png)) as im:
        im.load()
        return decode._luminance(im)


PNG_KINDS = {
    "grey": lambda: images.encode(seven()),
    "rgb": lambda: images.encode(colour_seven()),
    "rgba-opaque": lambda: images.encode(colour_seven().convert("RGBA")),
    "rgba-transparent": lambda: images.encode(transparent_seven()),
    "grey-alpha": lambda: images.encode(Image.merge(
        "LA", [Image.new("L", (280, 280), 0), ImageOps.invert(seven())])),
    "palette": lambda: images.encode(colour_seven().quantize(64)),
    "palette-4-bit": lambda: images.encode(colour_seven().quantize(16), bits=4),
    "1-bit": lambda: images.encode(seven().convert("1")),
    "grey-16-bit": lambda: images.encode(Image.fromarray(
        np.asarray(seven()).astype(np.uint16) * 257)),
    "rgb-16-bit": lambda: raw_png(np.asarray(colour_seven()).astype(np.uint16) * 257 + 5, 2),
    "rgba-16-bit": lambda: raw_png(np.asarray(transparent_seven()).astype(np.uint16) * 257, 6),
    "grey-alpha-16-bit": lambda: raw_png(np.stack(
        [np.zeros((280, 280)), 255 - np.asarray(seven())], -1).astype(np.uint16) * 257, 4),
    "odd-size": lambda: images.encode(seven().resize((301, 283))),   # edge blocks cut short
    "small": lambda: images.encode(seven().resize((100, 90))),       # not shrunk
}


@pytest.mark.parametrize("kind", PNG_KINDS)
def test_libspng_reads_every_kind_of_png_as_pillow_did(kind):
    png = PNG_KINDS[kind]()
    fast = decode._decode_png(png)
    assert fast is not None, "read by libspng, not left to Pillow"
    before = pillow_luminance(png)
    assert fast.shape == before.shape and fast.dtype == np.float32
    # Pillow rounds to whole grey levels at each step; libspng's path does not.
    assert np.abs(fast - before).max() <= 0.6
    assert np.abs(normalise.normalise(fast).image
                  - normalise.normalise(before).image).max() < 0.002


@pytest.mark.parametrize("chunk", [b"tRNS", b"iCCP", b"zTXt"])
def test_colour_keys_and_compressed_metadata_are_left_to_pillow(chunk):
    body = {b"tRNS": b"\x00\xff", b"iCCP": b"p\x00\x00" + zlib.compress(b"x" * 64),
            b"zTXt": b"k\x00\x00" + zlib.compress(b"y" * 64)}[chunk]
    png = raw_png(np.asarray(seven()), 0, extra=images.png_chunk(chunk, body))
    assert decode._decode_png(png) is None
    assert read(png).shape == (28, 28)


def refuse_to_decode(monkeypatch):
    """Make both decoders fail the test if they are asked for pixels."""
    def no_pixels(*args, **kwargs):
        raise AssertionError("pixels decoded")
    monkeypatch.setattr(decode.pyspng, "load", no_pixels)
    monkeypatch.setattr(decode.Image, "open", no_pixels)


@pytest.mark.parametrize("png, status, word", [
    (images.bomb_png(), 400, "megapixels"),
    (images.header_only_png(12000, 12000), 400, "megapixels"),
    (images.header_only_png(4000, 12), 400, "at least"),
    (images.animated_png(), 415, "Animated"),
], ids=["bomb", "huge-header", "too-thin", "animated"])
def test_size_and_animation_are_refused_from_the_header_alone(monkeypatch, png, status, word):
    refuse_to_decode(monkeypatch)
    with pytest.raises(decode.ImageError) as info:
        read_digit(png)
    assert info.value.status == status and word in str(info.value)


def test_a_bad_checksum_before_the_pixels_is_corrupt_as_with_pillow():
    png = bytearray(images.drawing("7"))
    png[29] ^= 0xFF                                  # IHDR's CRC
    assert decode.png_header(bytes(png)) is None
    with pytest.raises(decode.ImageError, match="truncated or corrupt"):
        read_digit(bytes(png))


def test_damaged_pixel_data_is_corrupt_whichever_decoder_fails():
    png = images.drawing("7")
    start = png.index(b"IDAT") + 4
    damaged = png[:start + 20] + bytes(200) + png[start + 220:]
    with pytest.raises(decode.ImageError, match="truncated or corrupt"):
        read_digit(damaged)
