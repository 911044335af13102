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
from webapp.reading import decode, limits, normalise


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


# -- the readings' budget ---------------------------------------------------------------------

def budgeted(tmp_path, model_path, **settings):
    # One new reading every 10 s, so a slow test machine refills no bucket by surprise.
    settings = {"PREDICT_RATE_LIMIT": 0.1, "PREDICT_BURST": 30, **settings}
    return create_app(app_config(tmp_path / "budgeted", MODEL=str(model_path), **settings))


def test_a_flood_of_readings_from_one_client_is_refused_with_retry_after(tmp_path, model_path):
    client = budgeted(tmp_path, model_path).test_client()

    def read(address="10.0.0.1"):
        return client.post("/api/v1/predict", data=images.drawing("7"), content_type="image/png",
                           environ_base={"REMOTE_ADDR": address})

    statuses = [read().status_code for _ in range(60)]
    assert statuses[:30] == [200] * 30 and statuses.count(429) >= 25
    refused = read()
    wait = int(refused.headers["Retry-After"])
    assert refused.status_code == 429 and 1 <= wait <= 10
    assert refused.json["error"] == f"0.1 readings a second per client; try again in {wait} s."
    assert read("10.0.0.2").status_code == 200                   # another client reads on


def test_the_draw_page_says_so_in_its_reading(tmp_path, model_path):
    client = budgeted(tmp_path, model_path, PREDICT_BURST=1).test_client()
    form = {"image": images.data_url(images.drawing("7"))}
    assert client.post("/predict", data=form, headers={"HX-Request": "true"}).status_code == 200
    refused = client.post("/predict", data=form, headers={"HX-Request": "true"})
    assert refused.status_code == 429 and "readings a second per client" in refused.text


def test_a_person_drawing_at_seven_readings_a_second_is_never_refused():
    buckets = limits.ReadingBuckets()
    for i in range(7 * 600):                      # ten minutes of drawing
        assert buckets.take("person", rate=10, burst=30, now=i / 7) is None


def test_a_flood_gets_the_rate_and_no_more():
    buckets = limits.ReadingBuckets()
    granted = sum(buckets.take("flood", rate=10, burst=30, now=i / 1000) is None
                  for i in range(10_000))        # 1,000 a second for 10 s
    assert 30 + 100 - 2 <= granted <= 30 + 100 + 1


def test_a_worker_forgets_the_least_recent_clients(monkeypatch):
    monkeypatch.setattr(limits, "MAX_TRACKED", 100)
    buckets = limits.ReadingBuckets()
    for i in range(150):
        buckets.take(f"client {i}", rate=10, burst=30, now=0)
    assert len(buckets.buckets) == 100 and "client 0" not in buckets.buckets
