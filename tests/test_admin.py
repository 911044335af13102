"""The admin dashboard: refusals, CSRF, the data panel and the models (runs: test_admin_runs).

Everything goes through the app and its real SQLite database: samples come in
through ``POST /api/v1/samples``, runs are started by the form (with the
queue's consumer not running, so they stay queued unless a test writes their
progress the way the worker does), versions are registered by ``registry``.
"""

import base64
import gzip
import io
import re

import pytest
from sqlalchemy import func, select

from tests import images
from tests.support import HX, browser, history, progress, set_password, token
from webapp.core import registry
from webapp.core.db import ModelVersion, Sample, TrainingRun, db
from webapp.teaching import runs


def add_samples(client, labels):
    ids = []
    for label in labels:
        response = client.post("/api/v1/samples", data={
            "image": (io.BytesIO(images.drawing(str(label))), "d.png"), "label": str(label)})
        assert response.status_code == 201, response.json
        ids.append(response.json["id"])
    return ids


# -- nobody gets in without logging in --------------------------------------------------------

def admin_requests(app):
    """(method, url) for every /admin rule but the login page, ids filled in with 1."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or rule.endpoint == "auth.login":
            continue
        url = rule.rule
        for argument in rule.arguments:
            url = url.replace(f"<int:{argument}>", "1").replace(f"<{argument}>", "1")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, url


def test_every_admin_route_refuses_an_anonymous_request(app):
    set_password(app)
    client = browser(app)
    csrf = token(client)          # a valid token: the refusal must come from the login check
    requests = list(admin_requests(app))
    assert len(requests) >= 12
    assert ("POST", "/admin/models/1/promote") in requests
    for method, url in requests:
        page = client.open(url, method=method, data={"csrf_token": csrf})
        fragment = client.open(url, method=method, headers={**HX, "X-CSRFToken": csrf})
        if method == "GET":
            assert page.status_code == 302, url
            assert page.location.startswith("/admin/login?next="), url
        else:
            assert page.status_code == 401, (method, url)
        assert fragment.status_code == 401, (method, url)
        assert "not logged in" in fragment.text
    with app.app_context():
        assert registry.serving_id() == 1
        assert db.session.scalar(select(func.count()).select_from(TrainingRun)) == 0


def test_a_state_change_without_the_csrf_token_is_refused(app, admin):
    [sample_id] = add_samples(admin, [4])
    no_token = admin.post(f"/admin/samples/{sample_id}/label", data={"label": "9"}, headers=HX)
    assert no_token.status_code == 400
    assert "reload the page" in no_token.text
    wrong = admin.post(f"/admin/samples/{sample_id}/label", data={"label": "9"},
                       headers={**HX, "X-CSRFToken": "forged"})
    assert wrong.status_code == 400
    for method, url in admin_requests(app):
        if method == "POST":
            assert admin.post(url, headers=HX).status_code == 400, url
    with app.app_context():
        assert db.session.get(Sample, sample_id).label == 4
        assert db.session.scalar(select(func.count()).select_from(TrainingRun)) == 0
    ok = admin.post(f"/admin/samples/{sample_id}/label", data={"label": "9"}, headers=admin.hx)
    assert ok.status_code == 200


def test_a_cross_site_state_change_is_refused_even_with_the_token(app, admin):
    response = admin.post("/admin/runs", data={"epochs": "1"},
                          headers={**admin.hx, "Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TrainingRun)) == 0


# -- data ---------------------------------------------------------------------------------------

def write_labels(path, labels):
    header = b"\x00\x00\x08\x01" + len(labels).to_bytes(4, "big")
    with gzip.open(path, "wb") as f:
        f.write(header + bytes(labels))


def test_the_data_panel_counts_mnist_and_collected_drawings(app, admin, tmp_path):
    app.config["DATA_DIR"] = str(tmp_path / "nowhere")
    page = admin.get("/admin/").text
    assert "Not found in" in page and str(tmp_path / "nowhere") in page
    assert "train-labels-idx1-ubyte.gz" in page

    data = tmp_path / "mnist"
    data.mkdir()
    write_labels(data / "train-labels-idx1-ubyte.gz", [1] * 7 + [3] * 2)
    write_labels(data / "t10k-labels-idx1-ubyte.gz", [0] * 4)
    app.config["DATA_DIR"] = str(data)
    add_samples(admin, [7, 7, 1])
    page = admin.get("/admin/").text
    mnist_bars = re.search(r'data-testid="mnist-counts" aria-label="([^"]*)"', page).group(1)
    assert "0: 0, 1: 7, 2: 0, 3: 2," in mnist_bars
    assert "Plus 4 test images" in page
    collected = re.search(r'data-testid="collected-counts" aria-label="([^"]*)"', page).group(1)
    assert "1: 1," in collected and "7: 2," in collected
    assert re.search(r'data-testid="collected-total">3<', page)


def test_the_gallery_pages_newest_first(app, admin):
    with app.app_context():
        png, pixels = images.drawing("1"), bytes(784)
        db.session.add_all([Sample(label=i % 10, predicted=1, model_version=1, source="api",
                                   upload=png, upload_type="image/png", pixels=pixels)
                            for i in range(30)])
        db.session.commit()
    first = admin.get("/admin/samples?page=1", headers=HX)
    assert first.status_code == 200
    assert first.text.count('<li class="sample') == 24
    assert 'id="sample-30"' in first.text and 'id="sample-6"' not in first.text
    assert "Page 1 of 2 · 30 drawings" in first.text
    second = admin.get("/admin/samples?page=2", headers=HX).text
    assert second.count('<li class="sample') == 6 and 'id="sample-1"' in second
    assert admin.get("/admin/samples?page=9", headers=HX).text.count('<li class="sample') == 6
    assert admin.get("/admin/samples?page=2").location == "/admin/?page=2#gallery"


def test_relabel_changes_the_label_and_updates_the_counts(app, admin):
    [sample_id] = add_samples(admin, [4])
    response = admin.post(f"/admin/samples/{sample_id}/label", data={"label": "9"},
                          headers=admin.hx)
    assert response.status_code == 200
    assert f'id="sample-{sample_id}"' in response.text and 'data-label="9"' in response.text
    assert 'id="counts" class="counts" hx-swap-oob="true"' in response.text
    with app.app_context():
        assert db.session.get(Sample, sample_id).label == 9

    bad = admin.post(f"/admin/samples/{sample_id}/label", data={"label": "12"},
                     headers=admin.hx)
    assert bad.status_code == 400
    assert "The label must be one digit from 0 to 9" in bad.text
    missing = admin.post("/admin/samples/999/label", data={"label": "1"}, headers=admin.hx)
    assert missing.status_code == 404 and "There is no sample 999" in missing.text


def test_delete_removes_the_sample_and_rerenders_the_page(app, admin):
    first, second = add_samples(admin, [2, 3])
    response = admin.post(f"/admin/samples/{first}/delete", data={"page": "1"},
                          headers=admin.hx)
    assert response.status_code == 200
    assert f'id="sample-{first}"' not in response.text
    assert f'id="sample-{second}"' in response.text
    assert "hx-swap-oob" in response.text                   # the counts follow
    with app.app_context():
        assert db.session.get(Sample, first) is None
        assert db.session.get(Sample, second) is not None
    again = admin.post(f"/admin/samples/{first}/delete", headers=admin.hx)
    assert again.status_code == 404 and f"There is no sample {first}" in again.text


def test_a_plain_form_post_returns_to_the_dashboard_with_a_message(app, admin):
    [sample_id] = add_samples(admin, [5])
    response = admin.post(f"/admin/samples/{sample_id}/label",
                          data={"label": "6", "csrf_token": admin.hx["X-CSRFToken"]})
    assert response.status_code == 302 and response.location == "/admin/#gallery"
    assert f"Drawing {sample_id} is now labelled 6." in admin.get("/admin/").text


# -- models ---------------------------------------------------------------------------------------

def register(app, test_accuracy, origin):
    with app.app_context():
        net, meta = registry.load_version(registry.get(1))
        return registry.register(net, meta, {"test_accuracy": test_accuracy,
                                             "val_accuracy": test_accuracy}, origin).id


def served_version(client):
    """The version the draw page reads with, as a prediction reports it."""
    drawing = "data:image/png;base64," + base64.b64encode(images.drawing("7")).decode()
    page = client.post("/predict", data={"image": drawing, "seq": "1"}, headers=HX).text
    return int(re.search(r'data-model="(\d+)"', page).group(1))


@pytest.fixture
def versions(app):
    with app.app_context():
        db.session.get(ModelVersion, 1).metrics = {"test_accuracy": 0.99}
        db.session.commit()
    return register(app, 0.90, "run 1"), register(app, 0.992, "run 2")


def test_the_models_panel_lists_every_version_and_the_serving_one(admin, versions):
    page = admin.get("/admin/models", headers=HX).text
    assert re.findall(r'data-version="(\d+)"', page) == ["3", "2", "1"]
    assert 'id="version-1" data-version="1" class="is-serving"' in page
    assert 'data-testid="promote-3"' in page and "99.20%" in page and "90.00%" in page


def test_promote_is_refused_below_the_margin_unless_forced(app, admin, versions):
    worse, _ = versions
    refused = admin.post(f"/admin/models/{worse}/promote", headers=admin.hx)
    assert refused.status_code == 409
    error = re.search(r'data-testid="models-error"[^>]*>([^<]*)<', refused.text).group(1)
    assert "90.00%" in error and "force" in error
    assert served_version(admin) == 1

    forced = admin.post(f"/admin/models/{worse}/promote", data={"force": "1"}, headers=admin.hx)
    assert forced.status_code == 200
    assert f"Promoted version {worse}" in forced.text
    assert f'id="version-{worse}" data-version="{worse}" class="is-serving"' in forced.text
    assert served_version(admin) == worse
    with app.app_context():
        assert registry.history()[-1].forced is True


def test_rollback_serves_an_earlier_version_again(app, admin, versions):
    _, better = versions
    assert admin.post(f"/admin/models/{better}/promote", headers=admin.hx).status_code == 200
    assert served_version(admin) == better
    page = admin.get("/admin/models", headers=HX).text
    assert 'data-testid="rollback-1"' in page
    back = admin.post("/admin/models/1/rollback", headers=admin.hx)
    assert back.status_code == 200 and "Rolled back to version 1" in back.text
    assert served_version(admin) == 1
    same = admin.post("/admin/models/1/rollback", headers=admin.hx)
    assert same.status_code == 409 and "already being served" in same.text
    assert admin.post("/admin/models/42/promote", headers=admin.hx).status_code == 404


def test_promote_from_the_run_panel_refreshes_that_panel(app, admin, versions):
    _, better = versions
    admin.post("/admin/runs", data={"epochs": "1"}, headers=admin.hx)
    with app.app_context():
        run_id = runs.latest().id
    progress(app, run_id, status="succeeded", slot=None, epoch=1, progress=1.0,
             history=history(1), version_id=better)
    panel = admin.get(f"/admin/runs/{run_id}", headers=HX).text
    assert f'data-testid="promote-run">Promote version {better}' in panel
    response = admin.post(f"/admin/models/{better}/promote", data={"run": str(run_id)},
                          headers=admin.hx)
    assert 'id="run" class="run is-succeeded"' in response.text
    assert 'hx-swap-oob="true"' in response.text
    assert 'data-testid="promote-run"' not in response.text      # it is serving now
    assert served_version(admin) == better


def test_the_dashboard_is_one_page_of_its_partials(admin):
    page = admin.get("/admin/")
    assert page.status_code == 200
    for part in ("train", "run", "runs", "models", "counts", "gallery"):
        assert f'id="{part}"' in page.text
    assert "admin.css" in page.text and "<script>" not in page.text
    assert 'style="' not in page.text
