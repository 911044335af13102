"""``POST /api/v1/explain``, ``GET /api/v1/dream/<digit>`` and ``GET /api/v1/models/<version>``.

The explanation's numbers are checked the way a student with a calculator
would: the attribution adds up to the score's change from the blank input,
a unit's contributions plus its bias are its z, each contribution is its
weight times the sent ``input``, and ``input`` is what the model's own
preprocessing makes of the image. The web tests' app serves a small seeded
network (784-16-10); the dream test serves the shipped model.
"""

import hashlib
import io

import numpy as np
import pytest

import model
from tests import images
from tests.support import app_config
from webapp import create_app
from webapp.core.served import Loaded
from webapp.reading import normalise

URL = "/api/v1/explain"
PREDICT_FIELDS = {"digit", "confidence", "probabilities", "hidden", "input", "model"}


def explain(client, png, **query):
    response = client.post(URL, query_string=query, data=png, content_type="image/png")
    assert response.status_code == 200, response.json
    return response.json


def log_p(net, x, digit):
    """log p(digit | x) for one input row x (784,), by the network itself (float64)."""
    return float(np.log(net.astype(np.float64).feedforward(x[None])[0, digit]))


@pytest.mark.parametrize("name, digit", [("3", None), ("3", 8), ("7", 1), ("0", 0)])
def test_the_attribution_adds_up_to_the_change_in_log_probability(client, model_path, name,
                                                                  digit):
    png = images.drawing(name)
    data = explain(client, png, **({} if digit is None else {"digit": digit}))
    assert PREDICT_FIELDS | {"explained", "attribution", "score", "unit"} == set(data)
    net, _ = model.load(model_path)
    x = np.array(data["input"], dtype=np.float64).reshape(-1)
    explained = data["digit"] if digit is None else digit
    assert data["explained"] == explained
    attribution = np.array(data["attribution"])
    assert attribution.shape == (28, 28)
    assert data["score"]["drawing"] == pytest.approx(log_p(net, x, explained), abs=1e-6)
    assert data["score"]["blank"] == pytest.approx(log_p(net, np.zeros(784), explained), abs=1e-6)
    assert attribution.sum() == pytest.approx(data["score"]["drawing"] - data["score"]["blank"],
                                              abs=1e-6)
    assert np.all(attribution.reshape(-1)[x == 0] == 0)     # no ink, no share


def test_the_unit_s_arithmetic_is_the_network_s_own(client, model_path):
    png = images.drawing("4")
    data = explain(client, png)
    net, _ = model.load(model_path)
    x = np.array(data["input"], dtype=np.float32).reshape(-1)
    unit = data["unit"]
    j = unit["index"]
    hidden = net.forward(x[None])[1][0]
    assert j == int(np.argmax(hidden))                                   # default: the strongest
    contributions = np.array(unit["contributions"]).reshape(-1)
    assert np.allclose(contributions, net.weights[0][:, j].astype(np.float64) * x, atol=1e-12)
    assert unit["bias"] == pytest.approx(float(net.biases[0][j]), abs=1e-7)
    assert contributions.sum() + unit["bias"] == pytest.approx(unit["z"], abs=1e-9)
    assert unit["activation"] == pytest.approx(1 / (1 + np.exp(-unit["z"])), abs=1e-9)
    assert unit["activation"] == pytest.approx(float(hidden[j]), abs=1e-6)
    assert data["hidden"][0][j] == pytest.approx(unit["activation"], abs=1e-4)
    assert np.allclose(unit["votes"], net.weights[1][j] * unit["activation"], atol=1e-6)

    other = explain(client, png, unit=3)["unit"]
    assert other["index"] == 3
    assert other["z"] == pytest.approx(float(net.weights[0][:, 3] @ x + net.biases[0][3]),
                                       abs=1e-5)


def test_input_is_exactly_the_vector_the_first_layer_multiplies(client, model_path):
    png = images.drawing("2")
    data = explain(client, png)
    net, meta = model.load(model_path)
    seen = model.inputs(net, normalise.read_digit(png).image[None])[0]
    sent = np.array(data["input"], dtype=np.float32).reshape(-1)
    assert np.array_equal(sent, seen)                  # not rounded: float32 exactly
    expected = Loaded(net, meta, version=0).read(normalise.read_digit(png).image)
    assert np.allclose(data["probabilities"], expected.probabilities, atol=1e-6)


def test_the_image_may_come_as_a_multipart_field_with_the_choices_as_fields(client):
    png = images.drawing("7")
    response = client.post(URL, data={"image": (io.BytesIO(png), "seven.png"), "digit": "1",
                                      "unit": "5"})
    assert response.status_code == 200
    assert response.json["explained"] == 1 and response.json["unit"]["index"] == 5


def test_a_blank_drawing_is_not_explained(client):
    data = explain(client, images.blank())
    assert data["digit"] is None and data["reason"] == normalise.BLANK
    assert data["explained"] is None and data["attribution"] is None and data["unit"] is None


@pytest.mark.parametrize("query, word", [
    ({"digit": "10"}, "0 to 9"), ({"digit": "-1"}, "0 to 9"), ({"digit": "seven"}, "0 to 9"),
    ({"digit": "3.0"}, "0 to 9"), ({"unit": "16"}, "0 to 15"), ({"unit": "-2"}, "0 to 15"),
    ({"unit": "x"}, "0 to 15"), ({"digit": ["3", "4"]}, "more than once"),
])
def test_bad_choices_are_a_400_that_says_what_to_send(client, query, word):
    response = client.post(URL, query_string=query, data=images.drawing("3"),
                           content_type="image/png")
    assert response.status_code == 400 and word in response.json["error"]


@pytest.mark.parametrize("kwargs, status", [
    ({"data": b"not an image", "content_type": "image/png"}, 400),
    ({"data": b"{}", "content_type": "application/json"}, 415),
    ({"data": {"digit": "3"}}, 400),                     # a form without the image
])
def test_bad_images_are_refused_as_for_predict(client, kwargs, status):
    response = client.post(URL, **kwargs)
    assert response.status_code == status and "error" in response.json


def test_explain_only_takes_post(client):
    response = client.get(URL)
    assert response.status_code == 405 and "error" in response.json


@pytest.fixture(scope="module")
def shipped_client(tmp_path_factory):
    app = create_app(app_config(tmp_path_factory.mktemp("dreams"), MODEL=str(model.PRETRAINED)))
    return app, app.test_client()


@pytest.mark.parametrize("digit", [3, 8])
def test_the_network_reads_its_own_dream_as_the_digit(shipped_client, shipped_net, digit):
    app, client = shipped_client
    response = client.get(f"/api/v1/dream/{digit}")
    assert response.status_code == 200
    data = response.json
    assert data["digit"] == digit and data["model"]["version"] == 1
    image = np.array(data["image"], dtype=np.float32)
    assert image.shape == (28, 28) and image.min() >= 0 and image.max() <= 1
    p = shipped_net.feedforward(image.reshape(1, -1))[0]
    assert p[digit] >= 0.95 and int(np.argmax(p)) == digit
    assert np.allclose(data["probabilities"], p, atol=1e-5)
    # Cached per model version, the ten made at once: the same dream answers the second time.
    cache = app.extensions["digits_dreams"].dreams
    assert list(cache) == [1] and [d.digit for d in cache[1]] == list(range(10))
    assert client.get(f"/api/v1/dream/{digit}").json == data


@pytest.mark.parametrize("path", ["/api/v1/dream/10", "/api/v1/dream/x", "/api/v1/dream/-1"])
def test_a_dream_of_no_digit_is_a_404(client, path):
    response = client.get(path)
    assert response.status_code == 404 and "0 to 9" in response.json["error"]


def test_a_model_version_downloads_as_its_npz(client, model_path):
    response = client.get("/api/v1/models/1")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="digits-model-1.npz"'
    assert response.data == model_path.read_bytes()       # the file it was registered from
    assert response.headers["X-Content-SHA256"] == hashlib.sha256(response.data).hexdigest()
    net, _ = model.loads(response.data)
    assert net.sizes == [784, 16, 10]
    with np.load(io.BytesIO(response.data), allow_pickle=False) as archive:
        with np.load(model.PRETRAINED, allow_pickle=False) as shipped:
            assert set(archive.files) == set(shipped.files)     # pretrained.npz's format


@pytest.mark.parametrize("path, status", [("/api/v1/models/2", 404), ("/api/v1/models/0", 404),
                                          ("/api/v1/models/x", 404)])
def test_a_missing_model_version_is_a_404(client, path, status):
    response = client.get(path)
    assert response.status_code == status and "error" in response.json
