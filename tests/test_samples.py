"""Labelled drawings: corrections from the page, the samples API, rate limits, and review."""

import io
import re

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select, text

from tests import images
from tests.support import HTTPS, HX_FROM_PAGE, app_config, page_token, start_together
from webapp import create_app
from webapp.core import samples
from webapp.core.db import Sample, db
from webapp.reading import corrections


def count(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Sample))


# -- the JSON API ----------------------------------------------------------------------------

def test_api_stores_one_labelled_sample_with_its_upload_and_image(app, client):
    png = images.drawing("7")
    response = client.post("/api/v1/samples", data={"image": (io.BytesIO(png), "7.png"),
                                                    "label": "7"})
    assert response.status_code == 201
    answer = response.json
    assert answer["label"] == 7 and answer["model_version"] == 1
    assert answer["predicted"] in range(10) and isinstance(answer["held_out"], bool)
    with app.app_context():
        sample = db.session.get(Sample, answer["id"])
        assert sample.upload_type == "image/png"
        assert Image.open(io.BytesIO(sample.upload)).mode == "L"      # re-encoded, not as sent
        assert sample.source == "api" and sample.created is not None
        pixels = samples.image(sample)
        assert pixels.shape == (28, 28) and pixels.max() == 255
    assert count(app) == 1


def test_api_takes_a_raw_body_with_the_label_in_the_query(app, client):
    jpeg = images.encode(images.Image.open(io.BytesIO(images.drawing("3"))).convert("RGB"),
                         "JPEG")
    response = client.post("/api/v1/samples?label=3", data=jpeg, content_type="image/jpeg")
    assert response.status_code == 201, response.json
    with app.app_context():
        assert db.session.get(Sample, response.json["id"]).upload_type == "image/png"


@pytest.mark.parametrize("label", ["-1", "10", "1e9", "NaN", "٣", "", " ", "7.0", "seven", None])
def test_a_bad_label_is_refused_and_nothing_is_stored(app, client, label):
    data = {"image": (io.BytesIO(images.drawing("7")), "7.png")}
    if label is not None:
        data["label"] = label
    response = client.post("/api/v1/samples", data=data)
    assert response.status_code == 400
    assert "one digit from 0 to 9" in response.json["error"]
    assert count(app) == 0


@pytest.mark.parametrize("body, content_type, status", [
    (b"", "image/png", 400),
    (b"GIF89a" + b"\x00" * 40, "image/png", 415),
    (images.drawing("7")[:200], "image/png", 400),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", 415),
])
def test_a_bad_image_is_refused_and_nothing_is_stored(app, client, body, content_type, status):
    response = client.post("/api/v1/samples?label=1", data=body, content_type=content_type)
    assert response.status_code == status and response.json["error"]
    assert count(app) == 0


def test_a_blank_drawing_is_not_stored(app, client):
    response = client.post("/api/v1/samples?label=1", data=images.blank(), content_type="image/png")
    assert response.status_code == 400 and "blank" in response.json["error"]
    assert count(app) == 0


def test_an_oversized_upload_is_413_and_not_stored(app, client):
    response = client.post("/api/v1/samples?label=1", data=b"\x89PNG\r\n\x1a\n" + b"0" * 600_000,
                           content_type="image/png")
    assert response.status_code == 413 and response.json["error"]
    assert count(app) == 0


# -- the page's correction form --------------------------------------------------------------

def test_the_reading_offers_a_correction_for_every_other_digit(client):
    fragment = client.post("/predict", data={"image": images.data_url(images.drawing("7"))},
                           headers=HX_FROM_PAGE).text
    assert 'data-testid="teach"' in fragment
    assert len(re.findall(r'name="label" value="\d"', fragment)) == 10


def test_a_correction_stores_exactly_one_row(app, client):
    token = page_token(client)
    response = client.post("/corrections", base_url=HTTPS, headers={**HX_FROM_PAGE, "X-CSRFToken": token},
                           data={"image": images.data_url(images.drawing("7")), "label": "1"})
    assert response.status_code == 200
    assert "Saved as a <strong>1</strong>" in response.text
    with app.app_context():
        (sample,) = db.session.scalars(select(Sample)).all()
        assert sample.label == 1 and sample.source == "page" and sample.model_version == 1


def test_a_correction_without_the_csrf_token_is_refused(app, client):
    client.get("/", base_url=HTTPS)
    response = client.post("/corrections", base_url=HTTPS, headers=HX_FROM_PAGE,
                           data={"image": images.data_url(images.drawing("7")), "label": "1"})
    assert response.status_code == 400 and "reload the page" in response.text
    assert count(app) == 0


def test_a_correction_of_a_blank_canvas_says_so(app, client):
    token = page_token(client)
    response = client.post("/corrections", base_url=HTTPS, headers={**HX_FROM_PAGE, "X-CSRFToken": token},
                           data={"image": images.data_url(images.blank()), "label": "1"})
    assert response.status_code == 400 and "Draw the digit" in response.text
    assert count(app) == 0


# -- rate limits -----------------------------------------------------------------------------

def limited_app(tmp_path, model_path, **settings):
    return create_app(app_config(tmp_path / "limited", MODEL=str(model_path),
                                 SAMPLES_RATE_LIMIT="3 per minute", **settings))


def test_anonymous_submissions_are_rate_limited_per_client(tmp_path, model_path):
    client = limited_app(tmp_path, model_path).test_client()

    def send(address):
        return client.post("/api/v1/samples?label=7", data=images.drawing("7"),
                           content_type="image/png", environ_base={"REMOTE_ADDR": address})

    assert [send("10.0.0.1").status_code for _ in range(3)] == [201, 201, 201]
    refused = send("10.0.0.1")
    assert refused.status_code == 429
    assert refused.json["error"].startswith("3 samples per minute per client; try again in ")
    assert 55 <= int(refused.headers["Retry-After"]) <= 60
    assert send("10.0.0.2").status_code == 201          # another client is not affected


def test_rate_limiting_can_be_turned_off(tmp_path, model_path):
    client = limited_app(tmp_path, model_path, RATELIMIT_ENABLED=False).test_client()
    statuses = {client.post("/api/v1/samples?label=7", data=images.drawing("7"),
                            content_type="image/png").status_code for _ in range(5)}
    assert statuses == {201}


# -- the operator's review -------------------------------------------------------------------

def add(app, name, label, held_out_percent=0):
    app.config["HOLD_OUT_PERCENT"] = held_out_percent
    with app.test_request_context():
        return corrections.add(images.drawing(name), label, source="api",
                               state=samples.ACCEPTED).id


def test_counts_pages_relabel_and_delete(app):
    ids = [add(app, "7", 7), add(app, "1", 1), add(app, "7-crossed", 7)]
    with app.app_context():
        assert samples.counts() == [0, 1, 0, 0, 0, 0, 0, 2, 0, 0]
        rows, total = samples.page(1, per_page=2)
        assert total == 3 and [s.id for s in rows] == ids[::-1][:2]
        assert [s.id for s in samples.page(2, per_page=2)[0]] == [ids[0]]
        samples.relabel(ids[1], 4)
        assert samples.counts()[4] == 1 and samples.counts()[1] == 0
        with pytest.raises(samples.SampleError, match="one digit"):
            samples.relabel(ids[1], 12)
        samples.delete(ids[0])
        with pytest.raises(samples.SampleError) as info:
            samples.delete(ids[0])
        assert info.value.status == 404
        assert sum(samples.counts()) == 2


def test_held_out_samples_are_never_in_the_training_set(app):
    trained = [add(app, "7", 7, held_out_percent=0) for _ in range(2)]
    kept_back = add(app, "1", 1, held_out_percent=100)
    with app.app_context():
        images_, labels = samples.training_set()
        assert images_.shape == (2, 28, 28) and images_.dtype == np.uint8
        assert labels.tolist() == [7, 7]
        held_images, held_labels = samples.held_out_set()
        assert held_labels.tolist() == [1] and held_images.shape == (1, 28, 28)
        assert db.session.get(Sample, kept_back).held_out and len(trained) == 2


# -- several processes writing at once ---------------------------------------------------------

def insert_many(instance, model_path, n, start):
    app = create_app(app_config(instance, MODEL=model_path, RATELIMIT_ENABLED=False))
    png = images.drawing("7")
    start.wait()
    for _ in range(n):
        with app.test_request_context():
            corrections.add(png, 7, source="api")


def test_concurrent_writers_on_sqlite_never_see_database_is_locked(tmp_path, model_path):
    instance = tmp_path / "shared"
    app = create_app(app_config(instance, MODEL=str(model_path)))
    assert start_together(insert_many, [(instance, str(model_path), 50)] * 4) == [0, 0, 0, 0]
    assert count(app) == 200
    with app.app_context():
        assert db.session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
