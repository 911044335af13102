"""What a stored sample costs the disk: a canonical PNG, a budget per client, a store that says
how full it is and refuses samples once it is full."""

import io
import math

import numpy as np
from PIL import Image
from sqlalchemy import func, select

from bench.reading_cost import photo
from tests import images
from tests.support import app_config
from webapp import create_app
from webapp.core.db import Sample, db
from webapp.reading import corrections, decode, normalise


def padded(png, junk=400_000):
    """``png`` with an ancillary chunk of ``junk`` bytes before IEND: valid, and huge."""
    return png[:-12] + images.png_chunk(b"juNk", bytes(junk)) + png[-12:]


def send(client, body, address="10.0.0.1"):
    return client.post("/api/v1/samples?label=7", data=body, content_type="image/png",
                       environ_base={"REMOTE_ADDR": address})


def stored(app, sample_id):
    with app.app_context():
        sample = db.session.get(Sample, sample_id)
        return sample.upload, np.frombuffer(sample.pixels, np.uint8).reshape(28, 28)


def test_a_padded_upload_is_stored_as_a_lean_greyscale_png(app, client):
    body = padded(images.drawing("7"))
    assert len(body) > 400_000
    response = send(client, body)
    assert response.status_code == 201
    upload, _ = stored(app, response.json["id"])
    assert len(upload) < 4096 and b"juNk" not in upload
    image = Image.open(io.BytesIO(upload))
    assert image.format == "PNG" and image.mode == "L" and image.size == (140, 140)


def test_the_stored_png_gives_the_same_28x28_image_again(app, client):
    for body in (images.drawing("7"), images.drawing("1"), photo()):
        answer = send(client, body).json
        upload, pixels = stored(app, answer["id"])
        again = normalise.read_digit(upload).image * 255
        assert np.abs(again - pixels).max() <= 3, "a later preprocessing can re-derive it"
        assert np.array_equal(np.round(decode.decode(upload)),
                              np.clip(np.floor(decode.decode(body) + 0.5), 0, 255))


def test_a_long_thin_strip_is_stored_at_most_560_px_long():
    strip = np.full((200, 20000), 255, np.uint8)
    strip[60:140, 9900:10100] = 0
    png = corrections.canonical_png(np.asarray(strip, np.float32))
    assert max(Image.open(io.BytesIO(png)).size) <= corrections.MAX_STORED_SIDE


def test_each_client_has_a_storage_budget_a_day(tmp_path, model_path):
    size = len(corrections.canonical_png(decode.decode(images.drawing("7"))))
    fits = 3
    kib = math.ceil(fits * size / 1024)                  # room for three drawings, not four
    assert kib * 1024 < (fits + 1) * size
    client = create_app(app_config(tmp_path / "i", MODEL=str(model_path),
                                   CLIENT_STORAGE_KB=kib)).test_client()
    assert [send(client, images.drawing("7")).status_code for _ in range(fits)] == [201] * fits
    refused = send(client, images.drawing("7"))
    assert refused.status_code == 429
    assert f"may fill {kib} KiB in any 24 hours" in refused.json["error"]
    assert 86000 < int(refused.headers["Retry-After"]) <= 86400
    assert send(client, images.drawing("7"), address="10.0.0.2").status_code == 201


def test_a_full_store_refuses_new_samples_and_says_so(tmp_path, model_path):
    app = create_app(app_config(tmp_path / "i", MODEL=str(model_path), SAMPLES_STORAGE_MB=0))
    response = send(app.test_client(), images.drawing("7"))
    assert response.status_code == 507 and "store is full" in response.json["error"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Sample)) == 0


def test_healthz_and_the_admin_show_how_full_the_store_is(app, client, admin):
    for _ in range(3):
        send(client, images.drawing("7"))
    app.extensions["digits_samples_usage"]["at"] = -1e9          # read the sum afresh
    assert set(client.get("/healthz").json["storage"]) == {"ok", "full", "ms"}   # anyone
    storage = admin.get("/healthz").json["storage"]        # the admin sees the details
    assert storage["ok"] and storage["samples"] == 3 and not storage["full"]
    assert 3 * 784 < storage["bytes"] < 3 * 5000 and storage["limit_bytes"] == 1024 * 2**20
    page = admin.get("/admin/").text
    assert 'data-testid="storage">Stored: 0.0 MiB' in page and "of 1024 MiB" in page
