"""The JSON API ``POST /api/v1/predict``: the answer's shape, blank images, and every refusal."""

import io

import numpy as np
import pytest
from PIL import Image

import model
from tests import images
from tests.drawings import render
from webapp.core.served import Loaded
from webapp.reading import decode, normalise

URL = "/api/v1/predict"


def expected_digit(model_path, png):
    """What the model file itself says about ``png``, through the same preprocessing."""
    net, meta = model.load(model_path)
    return Loaded(net, meta, version=0).read(normalise.read_digit(png).image).digit


def check_answer(data, model_path, png):
    assert set(data) == {"digit", "confidence", "probabilities", "hidden", "input", "model"}
    assert data["digit"] == expected_digit(model_path, png)
    probabilities = np.array(data["probabilities"])
    assert probabilities.shape == (10,) and abs(probabilities.sum() - 1) < 1e-4
    assert data["confidence"] == pytest.approx(probabilities.max(), abs=1e-6)
    assert probabilities.argmax() == data["digit"]
    assert [len(h) for h in data["hidden"]] == [16]
    assert np.array(data["input"]).shape == (28, 28)
    assert data["model"]["version"] and data["model"]["sizes"] == [784, 16, 10]


def test_multipart_upload(client, model_path):
    png = images.drawing("7")
    response = client.post(URL, data={"image": (io.BytesIO(png), "seven.png")})
    assert response.status_code == 200 and response.is_json
    check_answer(response.json, model_path, png)


@pytest.mark.parametrize("fmt, content_type", [("PNG", "image/png"), ("JPEG", "image/jpeg")])
def test_raw_body(client, model_path, fmt, content_type):
    png = images.drawing("4")
    body = png if fmt == "PNG" else images.encode(Image.open(io.BytesIO(png)).convert("L"), fmt)
    response = client.post(URL, data=body, content_type=content_type)
    assert response.status_code == 200
    check_answer(response.json, model_path, body)


def test_input_is_what_the_network_saw(client, model_path):
    png = images.drawing("2")
    data = client.post(URL, data=png, content_type="image/png").json
    seen = model.prepare(normalise.read_digit(png).image[None], True).reshape(28, 28)
    assert np.allclose(data["input"], seen, atol=1e-4)


@pytest.mark.parametrize("png, reason", [
    (images.blank(), normalise.BLANK),
    (images.blank(mode="RGBA", colour=(0, 0, 0, 0)), normalise.BLANK),
    (render([[(0.5, 0.5)]]), normalise.TOO_LITTLE_INK),
], ids=["white", "transparent", "one-dot"])
def test_blank_canvas_gives_no_digit_and_a_reason(client, png, reason):
    response = client.post(URL, data=png, content_type="image/png")
    assert response.status_code == 200
    assert response.json["digit"] is None and response.json["reason"] == reason
    assert response.json["probabilities"] is None


@pytest.mark.parametrize("case", images.BAD_UPLOADS, ids=[c[0] for c in images.BAD_UPLOADS])
@pytest.mark.parametrize("how", ["raw", "multipart"])
def test_bad_images_are_refused_with_json(client, case, how):
    _, body, content_type, status, word = case
    if how == "raw":
        response = client.post(URL, data=body, content_type=content_type)
    else:
        response = client.post(URL, data={"image": (io.BytesIO(body), "upload")})
    assert response.status_code == status
    assert response.is_json and word in response.json["error"]


@pytest.mark.parametrize("kwargs, status, word", [
    (dict(data=b"hello", content_type="text/plain"), 415, "Content-Type"),
    (dict(json={"image": "x"}), 415, "Content-Type"),
    (dict(data=images.drawing(), content_type="image/gif"), 415, "Content-Type"),
    (dict(data=images.drawing()), 415, "(none)"),
    (dict(data={"picture": (io.BytesIO(images.drawing()), "a.png")}), 400, "'image'"),
    (dict(data={"image": "data:image/png;base64,@@@"}), 400, "base64"),
    (dict(data={"image": "data:text/html;base64,PGgxPg=="}), 415, "data:image/png"),
    (dict(data=b"\0" * (decode.MAX_BYTES + 1), content_type="image/png"), 413, "too large"),
    (dict(data={"image": (io.BytesIO(b"\0" * (decode.MAX_BYTES + 1)), "big.png")}), 413,
     "too large"),
], ids=["text", "json", "gif-type", "no-type", "wrong-field", "bad-base64", "data-url-html",
        "oversized-raw", "oversized-multipart"])
def test_wrong_requests_are_refused_with_json(client, kwargs, status, word):
    response = client.post(URL, **kwargs)
    assert response.status_code == status
    assert response.is_json and word in response.json["error"]


@pytest.mark.parametrize("content_type", ["image/png", "multipart/form-data; boundary=x"])
def test_oversized_chunked_body_is_413(client, content_type):
    """No Content-Length (as gunicorn passes chunked bodies): the limit holds while reading."""
    body = b"--x\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\n"
    body += b"\0" * (decode.MAX_BYTES + 1024) + b"\r\n--x--\r\n"
    response = client.post(URL, input_stream=io.BytesIO(body), content_type=content_type,
                           headers={"Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413 and response.is_json


def test_other_methods_and_paths_answer_json(client):
    assert client.get(URL).status_code == 405 and client.get(URL).is_json
    missing = client.post("/api/v1/nothing-here")
    assert missing.status_code == 404 and "error" in missing.json


def test_damaged_pngs_never_cause_a_server_error(client):
    """A few hundred random corruptions of a real drawing: 200 or a 4xx, never a 5xx."""
    png = bytearray(images.drawing("7"))
    rng = np.random.default_rng(0)
    for _ in range(300):
        damaged = bytearray(png)
        for position in rng.integers(8, len(png), rng.integers(1, 8)):
            damaged[position] = rng.integers(0, 256)
        response = client.post(URL, data=bytes(damaged), content_type="image/png")
        assert response.status_code in (200, 400), response.json


def test_numbers_are_sent_rounded(client):
    """Four decimals for activations and pixels, six for probabilities: no float32 noise."""
    import re

    response = client.post(URL, data=images.drawing("7"), content_type="image/png")
    assert response.mimetype == "application/json"
    decimals = [len(d) for d in re.findall(r"\d\.(\d+)", response.get_data(as_text=True))]
    assert decimals and max(decimals) <= 6
