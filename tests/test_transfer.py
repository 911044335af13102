"""Take it with you: a version downloaded as .npz with its card, a model file uploaded as a
new version (refused with a message when it is not one), the drawings exported."""

import csv
import gzip
import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

import model
from model import mnist
from tests import images
from tests.support import HX, save_network
from webapp.core import registry
from webapp.reading.corrections import add


def npz(arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def upload(admin, data, name="mine.npz"):
    return admin.post("/admin/models/upload", headers=admin.hx,
                      data={"model": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def test_a_version_downloads_as_the_npz_it_is(app, admin, model_path):
    response = admin.get("/admin/models/1.npz")
    assert response.status_code == 200
    assert 'filename="digits-model-v1.npz"' in response.headers["Content-Disposition"]
    assert response.data == model_path.read_bytes()
    with np.load(io.BytesIO(response.data), allow_pickle=False) as arrays:
        meta = json.loads(arrays["metadata"].tobytes())
    assert meta["sizes"] == [784, 16, 10]
    net, _ = model.loads(response.data)
    assert net.sizes == [784, 16, 10]
    with app.app_context():
        assert registry.version_npz(1) == response.data


def test_downloads_and_the_card_need_a_login(client):
    for path in ("/admin/models/1.npz", "/admin/models/1/card", "/admin/samples/export.zip"):
        assert client.get(path, base_url="https://localhost").status_code == 302


def test_an_unknown_version_is_404(admin):
    assert admin.get("/admin/models/99.npz").status_code == 404
    assert admin.get("/admin/models/99/card").status_code == 404


def test_the_model_card_reads_the_metadata(admin):
    page = admin.get("/admin/models/1/card").text
    assert "<h1" in page and "Model card: version 1" in page
    assert "784-16-10" in page and "sigmoid" in page
    assert "digits-model-v1.npz" in page


def test_an_uploaded_model_becomes_a_new_version_not_served(app, admin, tmp_path):
    data = save_network(tmp_path / "other.npz", sizes=(784, 12, 10), seed=4).read_bytes()
    response = upload(admin, data, "other.npz")
    assert response.status_code == 200, response.text
    assert "Uploaded other.npz as version 2" in response.text
    assert 'data-version="2"' in response.text
    with app.app_context():
        assert registry.serving_id() == 1
        assert registry.get(2).sizes == "784-12-10" and registry.get(2).origin == "upload other.npz"
        assert registry.version_npz(2) == data


def refusals(tmp_path):
    good = save_network(tmp_path / "good.npz").read_bytes()
    with np.load(io.BytesIO(good), allow_pickle=False) as arrays:
        parts = {k: arrays[k] for k in arrays.files}
    meta = json.loads(parts["metadata"].tobytes())

    def with_meta(**changes):
        new = {**meta, **changes}
        return npz({**parts, "metadata": np.frombuffer(json.dumps(new).encode(), np.uint8)})

    wrong_input = {k: v for k, v in parts.items()}
    wrong_input["w0"] = np.zeros((100, 16), np.float32)
    pickled = io.BytesIO()
    np.save(pickled, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    return {
        "not a zip": (b"hello", "not a .npz file"),
        "pickle inside": (zip_of({"metadata.npy": pickled.getvalue()}), "not a readable"),
        "no metadata": (npz({k: v for k, v in parts.items() if k != "metadata"}), "no metadata"),
        "wrong shape": (npz(wrong_input), "has shape (100, 16)"),
        "12 outputs": (with_meta(sizes=[784, 16, 12]), "sizes [784, 16, 12] need (16, 12)"),
        "another input": (with_meta(preprocessing={"deskew": False, "input": "32x32 RGB"}),
                          "says it reads &#39;32x32 RGB&#39;; this app feeds"),
    }


def zip_of(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for name, data in members.items():
            zipped.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["not a zip", "pickle inside", "no metadata", "wrong shape",
                                  "12 outputs", "another input"])
def test_a_wrong_model_file_is_refused_with_a_message(app, admin, tmp_path, kind):
    data, words = refusals(tmp_path)[kind]
    response = upload(admin, data)
    assert response.status_code == 400
    assert "Not added" in response.text and words in response.text
    with app.app_context():
        assert [v.id for v in registry.versions()] == [1]


def test_an_upload_that_would_inflate_past_the_limit_is_refused_unread(admin):
    huge = io.BytesIO()
    with zipfile.ZipFile(huge, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("w0.npy", b"\0" * (65 * 1024 * 1024))
    response = upload(admin, huge.getvalue())
    assert response.status_code == 400 and "the limit is 64 MiB" in response.text


def test_an_upload_larger_than_an_image_is_accepted(admin, tmp_path):
    data = save_network(tmp_path / "big.npz", sizes=(784, 300, 10)).read_bytes()
    assert len(data) > 512 * 1024
    assert upload(admin, data, "big.npz").status_code == 200


def test_no_file_is_a_message(admin):
    response = admin.post("/admin/models/upload", headers=admin.hx, data={},
                          content_type="multipart/form-data")
    assert response.status_code == 400 and "Choose a model file" in response.text


def collect(app, labels):
    with app.test_request_context():
        return [add(images.drawing(name), label, source="api").id for name, label in labels]


def test_the_drawings_export_as_pngs_and_a_labels_csv(app, admin):
    ids = collect(app, [("7", 7), ("3", 3), ("8", 8)])
    response = admin.get("/admin/samples/export.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.data)) as zipped:
        table = list(csv.DictReader(io.StringIO(zipped.read("labels.csv").decode())))
        assert [int(r["id"]) for r in table] == ids
        assert [int(r["label"]) for r in table] == [7, 3, 8]
        picture = Image.open(io.BytesIO(zipped.read(table[0]["file"])))
        assert picture.size == (28, 28) and picture.mode == "L"
        assert np.asarray(picture).max() > 200 and np.asarray(picture)[0, 0] == 0   # MNIST's ink


def test_the_drawings_export_as_mnist_idx_files(app, admin, tmp_path):
    collect(app, [("7", 7), ("1", 1)])
    response = admin.get("/admin/samples/export.zip?format=idx")
    with zipfile.ZipFile(io.BytesIO(response.data)) as zipped:
        for name in zipped.namelist():
            (tmp_path / name).write_bytes(zipped.read(name))
    pictures = mnist.read_idx(tmp_path / "samples-images-idx3-ubyte.gz")
    labels = mnist.read_idx(tmp_path / "samples-labels-idx1-ubyte.gz")
    assert pictures.shape == (2, 28, 28) and labels.tolist() == [7, 1]
    assert gzip.decompress((tmp_path / "samples-labels-idx1-ubyte.gz").read_bytes())[:4] == \
        b"\x00\x00\x08\x01"


def test_an_unknown_export_format_is_400(admin):
    response = admin.get("/admin/samples/export.zip?format=tiff")
    assert response.status_code == 400


def test_the_models_table_links_the_card_and_the_file(admin):
    fragment = admin.get("/admin/models", headers=HX).text
    assert 'href="/admin/models/1/card"' in fragment and 'href="/admin/models/1.npz"' in fragment
    assert 'data-testid="model-file"' in fragment
