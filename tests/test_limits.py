"""The samples budget every process shares, Idempotency-Key, and cross-site browsers refused.

Two apps on one instance folder stand for two workers (or two hosts): they
share nothing but the database, as gunicorn's processes do.
"""

import io
import threading

import pytest
from sqlalchemy import func, select
from werkzeug.exceptions import TooManyRequests

from tests import images
from tests.support import HTTPS, HX_FROM_PAGE, app_config, page_token
from webapp import create_app
from webapp.core import budgets
from webapp.core.db import BudgetEntry, IdempotencyKey, Sample, db
from webapp.reading import corrections


def count(app, table=Sample):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(table))


def worker(tmp_path, model_path, **settings):
    """One of several apps on one database (an instance folder), as gunicorn's workers are."""
    settings = {"SAMPLES_RATE_LIMIT": "3 per minute", **settings}
    return create_app(app_config(tmp_path / "shared", MODEL=str(model_path), **settings))


def api_sample(client, label="7", headers=None, address="10.0.0.1", body=None):
    return client.post(f"/api/v1/samples?label={label}", data=body or images.drawing("7"),
                       content_type="image/png", headers=headers or {},
                       environ_base={"REMOTE_ADDR": address})


def page_correction(client, address="10.0.0.1"):
    token = page_token(client)
    return client.post("/corrections", base_url=HTTPS,
                       headers={**HX_FROM_PAGE, "X-CSRFToken": token},
                       data={"image": images.data_url(images.drawing("7")), "label": "1"},
                       environ_base={"REMOTE_ADDR": address})


# -- one budget, every route, every process ---------------------------------------------------

def test_the_api_and_the_page_spend_one_budget_across_workers(tmp_path, model_path):
    a = worker(tmp_path, model_path).test_client()
    b = worker(tmp_path, model_path).test_client()
    assert api_sample(a).status_code == 201
    assert page_correction(b).status_code == 200
    assert api_sample(b).status_code == 201
    refused = [api_sample(a), page_correction(b)]
    assert [r.status_code for r in refused] == [429, 429]
    assert refused[0].json["error"].startswith("3 samples per minute per client; try again in ")
    assert 55 <= int(refused[0].headers["Retry-After"]) <= 60
    assert "3 samples per minute per client" in refused[1].text       # the page's own row
    assert refused[1].headers["Retry-After"]
    assert api_sample(a, address="10.0.0.2").status_code == 201       # another client
    assert count(a.application) == 4


def test_the_log_keeps_no_address(tmp_path, model_path):
    app = worker(tmp_path, model_path)
    api_sample(app.test_client(), address="203.0.113.9")
    with app.app_context():
        clients = set(db.session.scalars(select(BudgetEntry.client)))
    assert clients and not any("203.0.113.9" in c for c in clients)


def test_a_sliding_window_never_lets_twice_the_amount_through_at_its_edge(app):
    windows = budgets.parse_windows("3 per minute;5 per hour")
    with app.app_context():
        for now in (58, 59, 59.5):
            budgets.spend("t", "c", 1, windows, now=now)
        with pytest.raises(budgets.OverBudget) as info:
            budgets.spend("t", "c", 1, windows, now=60.5)      # a fixed window would reset
        assert info.value.retry_after == 58 and info.value.window.text == "3 per minute"
        budgets.spend("t", "c", 1, windows, now=118.1)         # the one at 58 has aged out
        budgets.spend("t", "c", 1, windows, now=180)
        with pytest.raises(budgets.OverBudget) as info:
            budgets.spend("t", "c", 1, windows, now=250)
        assert info.value.window.text == "5 per hour" and info.value.retry_after == 3408


@pytest.mark.parametrize("text, expected", [
    ("60 per minute;600 per hour", [(60, 60), (600, 3600)]),
    ("10/second", [(10, 1)]), ("100 per 5 minutes", [(100, 300)]), ("2 per days", [(2, 86400)])])
def test_budgets_are_written_as_the_settings_table_says(text, expected):
    assert [(w.amount, w.seconds) for w in budgets.parse_windows(text)] == expected


def test_a_budget_that_makes_no_sense_is_refused():
    with pytest.raises(ValueError, match="not a budget"):
        budgets.parse_windows("sixty a minute")


def test_a_budget_in_redis_is_shared_and_exact(tmp_path, model_path, redis_url):
    prefix = f"digits-test-{tmp_path.name}"
    a, b = (worker(tmp_path, model_path, REDIS_URL=redis_url, RATELIMIT_KEY_PREFIX=prefix)
            for _ in range(2))
    try:
        statuses = [api_sample(client.test_client()).status_code for client in (a, b, a, b)]
        assert statuses == [201, 201, 201, 429]
        with a.app_context():
            assert db.session.scalar(select(func.count()).select_from(BudgetEntry)
                                     .where(BudgetEntry.bucket == "samples")) == 0
    finally:
        store = a.extensions["digits_budget_redis"].client
        for key in store.scan_iter(f"{prefix}:*"):
            store.delete(key)


def test_a_budget_in_postgresql_is_shared_by_hosts(tmp_path, model_path, database_url):
    a, b = (create_app(app_config(tmp_path / name, MODEL=str(model_path),
                                  DATABASE_URL=database_url, SAMPLES_RATE_LIMIT="3 per minute"))
            for name in ("a", "b"))
    clients = [a.test_client(), b.test_client()]
    answers = []
    threads = [threading.Thread(target=lambda c=c: answers.append(api_sample(c).status_code))
               for c in clients * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == [201] * 3 + [429] * 5
    assert count(a) == 3


# -- Idempotency-Key ----------------------------------------------------------------------------

def test_a_retry_with_the_same_key_gets_the_first_answer_and_stores_nothing(app, client):
    key = {"Idempotency-Key": "0b6f3c1e-5d2a-4f7e-9a41-2c8d7e6f5a10"}
    first = api_sample(client, headers=key)
    again = api_sample(client, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert count(app) == 1 and count(app, IdempotencyKey) == 1
    assert api_sample(client, headers={"Idempotency-Key": "another"}).json["id"] != first.json["id"]


def test_a_replay_spends_no_budget(tmp_path, model_path):
    client = worker(tmp_path, model_path).test_client()
    key = {"Idempotency-Key": "k1"}
    assert [api_sample(client, headers=key).status_code for _ in range(5)] == [201] * 5
    assert api_sample(client).status_code == 201 and api_sample(client).status_code == 201


def test_the_same_key_for_another_sample_is_422(app, client):
    key = {"Idempotency-Key": "k"}
    assert api_sample(client, headers=key).status_code == 201
    other = api_sample(client, label="1", headers=key)
    assert other.status_code == 422 and "different sample" in other.json["error"]
    assert count(app) == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve", "tab\there"])
def test_a_malformed_key_is_400(app, client, key):
    response = api_sample(client, headers={"Idempotency-Key": key})
    assert response.status_code == 400 and "Idempotency-Key" in response.json["error"]
    assert count(app) == 0


def test_an_expired_key_stores_again(app, client):
    assert api_sample(client, headers={"Idempotency-Key": "old"}).status_code == 201
    app.config["IDEMPOTENCY_HOURS"] = 0
    assert api_sample(client, headers={"Idempotency-Key": "old"}).status_code == 201
    assert count(app) == 2 and count(app, IdempotencyKey) == 1


def test_the_same_key_sent_twice_at_once_stores_one_sample(tmp_path, model_path):
    apps = [create_app(app_config(tmp_path / "race", MODEL=str(model_path))) for _ in range(2)]
    answers, start = [], threading.Barrier(8)

    def send(app):
        start.wait()
        answers.append(api_sample(app.test_client(), headers={"Idempotency-Key": "race"}))

    threads = [threading.Thread(target=send, args=(apps[i % 2],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {a.status_code for a in answers} == {201}
    assert len({a.json["id"] for a in answers}) == 1 and count(apps[0]) == 1


# -- browsers on other sites ----------------------------------------------------------------

CROSS_SITE = [{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"},
              {"Origin": "null"}, {"Sec-Fetch-Site": "same-site", "Origin": "https://a.localhost"}]


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_a_browser_on_another_site_cannot_store_a_sample(app, client, headers):
    response = api_sample(client, headers=headers)
    assert response.status_code == 403
    assert "a browser on another site may not change anything here" in response.json["error"]
    assert count(app) == 0


@pytest.mark.parametrize("headers", CROSS_SITE[:2])
def test_nor_make_the_api_read_for_it(client, headers):
    response = client.post("/api/v1/predict", data=images.drawing("7"), content_type="image/png",
                           headers=headers)
    assert response.status_code == 403


@pytest.mark.parametrize("headers", [{}, {"Sec-Fetch-Site": "same-origin",
                                          "Origin": "http://localhost"},
                                     {"Sec-Fetch-Site": "none"}, {"Origin": "http://localhost"}])
def test_scripts_and_the_site_itself_still_store_samples(app, client, headers):
    assert api_sample(client, headers=headers).status_code == 201


def test_a_cross_site_form_post_is_refused_as_a_browser_sends_it(app, client):
    """What the attack page sent: a multipart form, no cookie, from another origin."""
    response = client.post("/api/v1/samples", headers={"Origin": "https://evil.example",
                                                       "Sec-Fetch-Site": "cross-site",
                                                       "Sec-Fetch-Mode": "navigate"},
                           data={"image": (io.BytesIO(images.drawing("7")), "7.png"),
                                 "label": "7"})
    assert response.status_code == 403 and count(app) == 0


def test_each_student_of_a_class_has_a_budget_and_the_operator_none(tmp_path, model_path):
    """A class sits behind one school address: its students' samples are counted each by
    their own key (``budget_key``), and the operator's own are not counted at all."""
    app = worker(tmp_path, model_path, SAMPLES_RATE_LIMIT="1 per minute")
    png = images.drawing("7")

    def add(source="class", key=None):
        with app.test_request_context(environ_base={"REMOTE_ADDR": "10.0.0.1"}):
            return corrections.add(png, 7, source=source, state="accepted", budget_key=key)

    add(key="class 1 student 1")
    add(key="class 1 student 2")
    with pytest.raises(TooManyRequests):
        add(key="class 1 student 1")
    for _ in range(3):
        add(source="admin")
    assert count(app) == 5
