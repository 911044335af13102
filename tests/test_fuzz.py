"""Property-based fuzzing (Hypothesis) of what strangers can send: the JSON API and the train form.

Whatever the bytes, content type, field names or label: never a 5xx, every
error under ``/api/`` is JSON ``{"error": str}``, and a row is stored exactly
when the input was valid (a sample only for one ASCII digit sent once with a
drawing that has ink; a training run only for settings ``retrain.validate``
accepts). Bounded for CI: a fixed number of examples each, derandomized (the
same examples on every run, no example database written), no deadline (a
shared 2-core machine makes timings noise).
"""

import dataclasses
import io
import json
import re
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from tests import hostile, images
from tests.support import PASSWORD, PASSWORD_HASH, app_config, browser, save_network, token
from webapp import create_app
from webapp.core.db import Sample, TrainingRun, db
from webapp.teaching import runs, settings as retrain

FUZZ = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
DIGITS = [str(d) for d in range(10)]
GOOD = {name: images.drawing(name) for name in ("7", "1", "4")}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """One app for all examples (Hypothesis runs many inside one test); rows are counted."""
    folder = tmp_path_factory.mktemp("fuzz")
    model_path = save_network(folder / "model.npz")
    return create_app(app_config(folder / "instance", MODEL=str(model_path),
                                 ADMIN_PASSWORD_HASH=PASSWORD_HASH, RATELIMIT_ENABLED=False))


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


def count(app, table):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(table))


# -- strategies ---------------------------------------------------------------------------------

@st.composite
def mutated_png(draw):
    """A real drawing with a few bytes changed, some inserted, or its tail cut off."""
    data = bytearray(GOOD[draw(st.sampled_from(sorted(GOOD)))])
    for _ in range(draw(st.integers(0, 6))):
        position = draw(st.integers(0, len(data) - 1))
        if draw(st.booleans()):
            data[position] = draw(st.integers(0, 255))
        else:
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
    if draw(st.booleans()):
        data = data[:draw(st.integers(0, len(data)))]
    return bytes(data)


SIGNATURES = st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"BM", b"",
                              b"II*\x00", b"<svg", b"8BPS", b"RIFF"])
GOOD_IMAGES = st.sampled_from(list(GOOD.values()))
IMAGES = st.one_of(                      # a real drawing half the time, so valid inputs occur
    GOOD_IMAGES, GOOD_IMAGES, GOOD_IMAGES,
    mutated_png(),
    st.builds(lambda head, tail: head + tail, SIGNATURES, st.binary(max_size=512)),
    st.sampled_from([body for _, body, _ in hostile.bad_images() if len(body) < 200_000]),
)
CONTENT_TYPES = st.one_of(
    st.just("image/png"), st.just("image/png"),
    st.sampled_from(["image/png", "image/jpeg", "image/jpg", "image/gif", "image/svg+xml",
                     "application/json", "text/plain", "application/octet-stream",
                     "image/png; charset=binary", "IMAGE/PNG", "image/png;;", ""]),
    st.from_regex(r"[a-z]{1,10}/[a-z0-9.+-]{1,20}", fullmatch=True),
)
LABELS = st.one_of(
    st.sampled_from(DIGITS), st.sampled_from(DIGITS),
    st.sampled_from(["-1", "10", "1e9", "NaN", "\u0663", "", " 7", "7 ", "7\x00", "\uff17",
                     "07", "+7", "7.0", "seven"]),
    st.text(max_size=6),
)
FIELD_NAMES = st.one_of(st.sampled_from(["image", "label", "IMAGE", "image[]", "labels", ""]),
                        st.text(max_size=10))


def assert_json_error(response):
    assert response.status_code < 500, response.data[:300]
    if response.status_code >= 400:
        assert response.mimetype == "application/json", response.data[:300]
        error = response.get_json()["error"]
        assert isinstance(error, str) and len(error) >= 15, error
        json.dumps(response.get_json())


# -- the JSON API -------------------------------------------------------------------------------

@FUZZ
@given(body=IMAGES, content_type=CONTENT_TYPES)
def test_predict_answers_any_raw_body_without_a_5xx(client, body, content_type):
    response = client.post("/api/v1/predict", data=body, content_type=content_type)
    assert_json_error(response)
    event(f"answered {response.status_code}")
    if response.status_code == 200:
        answer = response.get_json()
        assert answer["digit"] is None or answer["digit"] in range(10)


@FUZZ
@given(fields=st.lists(st.tuples(FIELD_NAMES, st.one_of(IMAGES, st.text(max_size=64))),
                       max_size=4),
       multipart=st.booleans())
def test_predict_answers_any_form_without_a_5xx(client, fields, multipart):
    data = MultiDict([(name, (io.BytesIO(value), "x.png") if isinstance(value, bytes) and
                       multipart else value if isinstance(value, str) else
                       value.decode("latin-1")) for name, value in fields])
    response = client.post("/api/v1/predict", data=data,
                           content_type="multipart/form-data" if multipart else None)
    assert_json_error(response)


@FUZZ
@given(image=IMAGES, labels=st.one_of(st.lists(LABELS, min_size=1, max_size=1),
                                      st.lists(LABELS, max_size=3)), in_query=st.booleans(),
       raw=st.booleans(), content_type=st.sampled_from(["image/png", "image/jpeg",
                                                        "text/plain"]))
def test_samples_store_a_row_only_for_one_digit_and_a_drawing(app, client, image, labels,
                                                               in_query, raw, content_type):
    before = count(app, Sample)
    if raw:              # curl --data-binary with the label in the query
        response = client.post("/api/v1/samples", data=image, content_type=content_type,
                               query_string=urlencode([("label", v) for v in labels]))
    else:
        data = MultiDict([("image", (io.BytesIO(image), "d.png"))])
        for value in labels:
            data.add("label", value)
        query = {"label": labels[0]} if in_query and labels else None
        response = client.post("/api/v1/samples", data=data, query_string=query)
    assert_json_error(response)
    event(f"answered {response.status_code}")
    one_digit = len(labels) == 1 and labels[0] in DIGITS
    if response.status_code == 201:
        assert one_digit and response.get_json()["label"] == int(labels[0])
        assert count(app, Sample) == before + 1
    else:
        assert count(app, Sample) == before, response.get_json()


# -- the admin's train form ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def operator(app):
    client = browser(app)
    response = client.post("/admin/login", data={"password": PASSWORD,
                                                  "csrf_token": token(client)})
    assert response.status_code == 302
    client.hx = {"HX-Request": "true", "X-CSRFToken": token(client, "/admin/")}
    return client


PLAUSIBLE = st.sampled_from(["1", "2", "4", "16", "64", "128", "0.05", "0.5", ""])
NUMBERS = st.one_of(PLAUSIBLE, PLAUSIBLE, PLAUSIBLE, st.integers(-10, 5000).map(str), st.floats(allow_nan=True).map(str),
                    st.sampled_from(["", " ", "1e9", "NaN", "inf", "\u0663", "1_0", " 7", "0x10",
                                     "9" * 5000, ".", "5."]),
                    st.text(max_size=8))
TRAIN_FORMS = st.lists(st.tuples(st.one_of(st.sampled_from(list(retrain.WHOLE_NUMBERS) + [
    "eta", "start", "augment", "include_samples"]), st.text(max_size=8)),
    st.one_of(NUMBERS, st.sampled_from(["serving", "scratch", "SCRATCH", "on"]))), max_size=8)


@FUZZ
@given(pairs=TRAIN_FORMS, htmx=st.booleans())
def test_the_train_form_starts_a_run_only_for_valid_settings(app, operator, pairs, htmx):
    form = MultiDict(pairs)
    before = count(app, TrainingRun)
    response = operator.post("/admin/runs", data=form,
                             headers=operator.hx if htmx else {"X-CSRFToken":
                                                               operator.hx["X-CSRFToken"]})
    assert response.status_code < 500, response.data[:300]
    after = count(app, TrainingRun)
    settings_, errors = retrain.validate(form)
    known = any(name in form for name in (*retrain.WHOLE_NUMBERS, "eta", "start", "augment",
                                          "include_samples", "sample_weight"))
    event(f"answered {response.status_code}")
    if response.status_code == (202 if htmx else 302):      # without htmx: back to the page
        assert after == before + 1 and not errors and known
        with app.app_context():
            run = db.session.scalars(select(TrainingRun).order_by(TrainingRun.id.desc())).first()
            assert run.settings == dataclasses.asdict(settings_)
            runs.cancel(run.id)             # free the one slot for the next example
    else:
        assert after == before
        assert response.status_code in (400, 409), response.status_code
        assert errors or not known
        if errors:
            text = re.sub(r"<[^>]+>", " ", response.text)
            assert any(message.split(":")[0][:20] in text for message in errors.values())
