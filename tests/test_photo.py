"""A photo of a digit on paper: EXIF orientation, shadows, ruled lines, specks; page and API.

The photos are made by ``tests.photos`` (Pillow, from nothing): handwritten and
printed digits on plain and ruled paper, under a shadow, with dirt, stored
sideways with an EXIF tag. Each handwritten one must read as its digit with the shipped
model (printed ones as they read on plain paper: nine of ten);
the same photos read as drawings (no cleaning) mostly do not, which is what
this reading is for.
"""

import io

import numpy as np
import pytest
from PIL import Image

import model
from tests.photos import photo
from tests.support import HX, app_config
from webapp import create_app
from webapp.reading.decode import decode
from webapp.reading.normalise import read_digit
from webapp.reading.photo import clean_photo, read_photo

CONDITIONS = {
    "plain": {},
    "lined": {"lined": True},
    "shadow": {"shadow": True},
    "lined+shadow": {"lined": True, "shadow": True},
    "lined+shadow+specks": {"lined": True, "shadow": True, "specks": True},
    "turned-right (EXIF 6), lined, shadow": {"exif": 6, "lined": True, "shadow": True},
    "printed": {"printed": True},
    "printed, lined, shadow, turned-left (EXIF 8)": {"printed": True, "lined": True,
                                                     "shadow": True, "exif": 8},
}


def reads(net, digit):
    if digit.image is None:
        return digit.blank
    return int(np.argmax(net.forward(model.inputs(net, digit.image[None]))[-1]))


@pytest.mark.parametrize("condition", CONDITIONS)
def test_every_digit_reads_from_its_photo(shipped_net, condition):
    read = {d: reads(shipped_net, read_photo(photo(d, **CONDITIONS[condition]))[0])
            for d in range(10)}
    if not CONDITIONS[condition].get("printed"):
        assert read == {d: d for d in range(10)}
        return
    # Printed digits are not handwriting, which is all the model learnt: the typeface's
    # round 6 reads as 0 (0.49 against 0.34 for 6, "not sure" on the page; the model
    # card's limits). The photo's conditions change nothing: the same as on plain paper.
    plain = {d: reads(shipped_net, read_photo(photo(d, printed=True))[0]) for d in range(10)}
    assert read == plain
    assert sum(read[d] == d for d in range(10)) >= 9


def test_shadows_and_lines_defeat_the_drawing_reader(shipped_net):
    """Why photos need their own reading: as drawings, shadowed ruled photos mostly misread."""
    right = sum(reads(shipped_net, read_digit(photo(d, lined=True, shadow=True))) == d
                for d in range(10))
    assert right <= 3


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_honoured(orientation, fmt):
    upright = decode(photo(4, size=(300, 400), fmt=fmt))
    turned = photo(4, size=(300, 400), fmt=fmt, exif=orientation)
    stored = Image.open(io.BytesIO(turned))
    if orientation != 3:
        assert stored.size == (400, 300)           # the pixels really are sideways
    lum = decode(turned)
    assert lum.shape == upright.shape
    assert np.abs(lum - upright).mean() < 3        # the same picture, the right way up


def test_the_cleaned_photo_is_even_paper_without_lines():
    lum = clean_photo(decode(photo(7, lined=True, shadow=True)))
    h, w = lum.shape
    paper = np.concatenate([lum[: h // 4].ravel(), lum[-h // 5:].ravel()])   # above and below
    assert np.percentile(paper, 1) > 235            # shadow and lines gone: white paper
    assert lum.min() < 80                           # the ink is still there


def test_a_blank_sheet_is_blank():
    blank = Image.new("RGB", (600, 800), (240, 236, 226))
    buffer = io.BytesIO()
    blank.save(buffer, "JPEG")
    digit, _ = read_photo(buffer.getvalue())
    assert digit.image is None


@pytest.fixture
def shipped_client(tmp_path):
    app = create_app(app_config(tmp_path / "instance", MODEL=str(model.PRETRAINED)))
    return app.test_client()


def test_the_page_reads_a_photo_and_shows_what_it_kept(shipped_client):
    response = shipped_client.post("/predict", headers=HX, data={
        "source": "photo", "seq": "3",
        "image": (io.BytesIO(photo(5, lined=True, shadow=True, exif=6)), "photo.jpg")})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-testid="prediction">5<' in html
    assert 'data-testid="photo-kept"' in html and "ruled lines removed" in html
    assert 'data-seq="3"' in html


def test_the_page_reads_a_photo_without_javascript(shipped_client):
    response = shipped_client.post("/predict", data={
        "source": "photo", "image": (io.BytesIO(photo(2, lined=True)), "photo.jpg")})
    assert response.status_code == 200
    assert 'data-testid="prediction">2<' in response.get_data(as_text=True)
    assert 'id="photo-file"' in response.get_data(as_text=True)


def test_the_api_reads_a_photo(shipped_client):
    data = photo(8, shadow=True, lined=True)
    response = shipped_client.post("/api/v1/predict?source=photo", data=data,
                                   content_type="image/jpeg")
    assert response.status_code == 200 and response.json["digit"] == 8


@pytest.mark.parametrize("source", ["camera", "x" * 300])
def test_an_unknown_source_is_refused(shipped_client, source):
    response = shipped_client.post(f"/api/v1/predict?source={source}", data=photo(1),
                                   content_type="image/jpeg")
    assert response.status_code == 400
    assert "source must be one of drawing, photo" in response.json["error"]
