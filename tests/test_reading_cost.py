"""What one reading may cost: images that decode to too many bytes, and the prediction budget.

A 2048×2048 16-bit RGBA PNG of 40 kB once cost ~30 canvases' worth of CPU and
memory to read; ``decode.MAX_DECODED_BYTES`` refuses it from its header, large
JPEGs are decoded smaller by libjpeg, and each client's predictions come out of
a per-process budget (``reading.limits``). The milliseconds are measured by
``bench/reading_cost.py`` (docs/benchmarks.md), not here.
"""

import io

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from bench.reading_cost import hostile_rgba8, hostile_rgba16, photo
from tests import images
from tests.support import app_config
from webapp import create_app
from webapp.reading import decode, normalise


def test_a_small_png_that_decodes_to_32_mib_is_refused_from_its_header(monkeypatch):
    body = hostile_rgba16(2048)
    assert len(body) < 150_000
    monkeypatch.setattr(decode.pyspng, "load", lambda *a: pytest.fail("decoded"))
    monkeypatch.setattr(Image.Image, "load", lambda *a: pytest.fail("decoded"))
    with pytest.raises(decode.ImageError) as info:
        decode.decode(body)
    assert info.value.status == 400
    assert "2048×2048 pixels of 16-bit RGBA: 32 MiB once decoded; the limit is 8 MiB" in str(
        info.value)


def test_the_api_refuses_it_with_that_message(client):
    response = client.post("/api/v1/predict", data=hostile_rgba8(2048), content_type="image/png")
    assert response.status_code == 400 and "MiB once decoded" in response.json["error"]


def test_the_largest_image_let_in_still_reads_like_the_canvas():
    canvas = normalise.read_digit(images.drawing("7")).image
    for body in (hostile_rgba16(1024), hostile_rgba8(1448)):
        big = normalise.read_digit(body).image
        assert np.abs(big - canvas).mean() < 0.03


def test_a_large_transparent_png_reads_as_pillow_reads_it():
    """The alpha path in integers (premultiplied, shrunk by 7 with cut edges) = Pillow's."""
    body = hostile_rgba8(1001)
    with Image.open(io.BytesIO(body)) as im:
        im.load()
        before = decode._luminance(im)
    fast = decode._decode_png(body)
    assert fast.shape == before.shape
    assert np.abs(fast - before).max() <= 0.6


def test_a_large_jpeg_is_decoded_smaller_by_libjpeg(monkeypatch):
    body = photo(2000, 2000, quality=60)
    assert len(body) <= decode.MAX_BYTES
    asked = []
    original = JpegImagePlugin.JpegImageFile.draft

    def draft(self, mode, size):
        asked.append(size)
        return original(self, mode, size)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", draft)
    digit = normalise.read_digit(body)
    assert asked == [(1000, 1000)]
    assert np.abs(digit.image - normalise.read_digit(photo(1600, 1200)).image).mean() < 0.05


def test_a_photo_is_read_at_full_size(monkeypatch):
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft",
                        lambda *a: pytest.fail("a photo of 5.5 MiB needs no draft"))
    assert normalise.read_digit(photo()).blank is None
