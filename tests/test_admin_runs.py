"""The admin dashboard's training: the train form, its errors, one run at a time, the run
panel's polling and cancel. Runs are started by the form with the queue's consumer not
running, so they stay queued unless a test writes their progress the way the worker does.
"""

import re
import threading

import numpy as np
from sqlalchemy import func, select

from tests.support import HX, browser, history, log_in, progress, set_password, token
from webapp.core.db import TrainingRun, db
from webapp.teaching import runs, settings as retrain


# -- training -----------------------------------------------------------------------------------

def test_the_train_form_shows_the_defaults(admin):
    page = admin.get("/admin/").text
    defaults = retrain.FINE_TUNE
    assert f'name="epochs" type="number" min="1" step="1" value="{defaults.epochs}"' in page
    assert f'value="{defaults.eta}"' in page and f'value="{defaults.batch_size}"' in page
    assert re.search(r'value="serving"\s+checked', page)
    assert "No training run yet" in page


def test_the_train_form_shows_each_error_next_to_its_field(app, admin):
    response = admin.post("/admin/runs", headers=admin.hx, data={
        "start": "sideways", "epochs": "0", "eta": "fast", "batch_size": "12.5",
        "hidden": "3", "sample_weight": "1000"})
    assert response.status_code == 400
    errors = dict(re.findall(r'data-testid="error-(\w+)">([^<]*)<', response.text))
    assert set(errors) == {"start", "epochs", "eta", "batch_size", "hidden", "sample_weight"}
    assert errors["epochs"] == "Epochs must be a whole number from 1 to 200."
    assert "Learning rate" in errors["eta"]
    assert 'id="epochs" name="epochs" type="number" min="1" step="1" value="0" ' \
           'aria-invalid="true" aria-describedby="error-epochs"' in response.text
    assert 'value="fast"' in response.text                     # what was typed stays
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TrainingRun)) == 0


def test_without_htmx_the_train_form_errors_come_back_on_the_page(app, admin):
    response = admin.post("/admin/runs", data={"epochs": "x", "csrf_token": admin.hx[
        "X-CSRFToken"]})
    assert response.status_code == 400
    assert "<title>Dashboard · digits</title>" in response.text
    assert 'data-testid="error-epochs"' in response.text and 'value="x"' in response.text


def test_a_second_start_is_refused_with_a_message(app, admin):
    settings = {"epochs": "1", "start": "serving", "include_samples": "1"}
    started = admin.post("/admin/runs", data=settings, headers=admin.hx)
    assert started.status_code == 202
    assert 'id="run" class="run is-queued"' in started.text      # the run panel, out of band
    assert 'hx-trigger="load delay:1s"' in started.text
    refused = admin.post("/admin/runs", data=settings, headers=admin.hx)
    assert refused.status_code == 409
    message = re.search(r'data-testid="train-refused">([^<]*)<', refused.text).group(1)
    assert "already queued" in message and "cancel it" in message
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TrainingRun)) == 1


def test_two_simultaneous_starts_give_exactly_one_run(app):
    set_password(app)
    clients = [browser(app), browser(app)]
    for client in clients:
        log_in(client)
        client.hx = {**HX, "X-CSRFToken": token(client, "/admin/")}
    barrier = threading.Barrier(2)
    statuses = []

    def click(client):
        barrier.wait()
        statuses.append(client.post("/admin/runs", data={"epochs": "1"},
                                    headers=client.hx).status_code)

    threads = [threading.Thread(target=click, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [202, 409]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TrainingRun)) == 1


def unit_pictures(epochs):
    rng = np.random.default_rng(0)
    return [{"epoch": e, "units": [3, 8], "weights": rng.normal(size=(2, 784)).tolist()}
            for e in range(epochs + 1)]


def test_the_run_panel_polls_while_the_run_runs_and_stops_when_it_ends(app, admin):
    admin.post("/admin/runs", data={"epochs": "4"}, headers=admin.hx)
    with app.app_context():
        run_id = runs.latest().id
    progress(app, run_id, status="running", epoch=2, progress=0.5, history=history(2),
             units=unit_pictures(2), phase="epoch 3 of 4")
    first = admin.get(f"/admin/runs/{run_id}?seen=queued", headers=HX).text
    assert 'id="runs" class="runs" hx-swap-oob="true"' in first    # the list says running
    assert 'id="models"' not in first
    running = admin.get(f"/admin/runs/{run_id}?seen=running", headers=HX).text
    assert 'hx-trigger="load delay:1s"' in running
    assert f'hx-get="/admin/runs/{run_id}?seen=running"' in running
    assert "Epoch 3 of 4" in running
    assert re.search(r'<progress max="1" value="0.5000"', running)
    assert 'data-testid="eta">about 4 s left' in running       # 2 s an epoch × 2 epochs left
    assert 'data-testid="loss-chart"' in running and 'data-testid="accuracy-chart"' in running
    assert running.count("<polyline") == 4
    assert running.count('alt="Unit 3 after epoch') == 3       # epochs 0, 1, 2
    assert "Cancel" in running and "hx-swap-oob" not in running

    results = {"test_accuracy": 0.991, "val_accuracy": 0.984, "per_class": [0.99] * 10,
               "confusion": (np.eye(10, dtype=int) * 99 + 1).tolist(),
               "worst": [{"pixels": "AAAA" * 261 + "AA==", "label": 4, "predicted": 9,
                          "confidence": 0.97}],
               "held_out": {"n": 5, "accuracy": 0.8}, "styles": {"crossed_7": 0.95},
               "seconds": 75.0, "settings": {"epochs": 4}}
    progress(app, run_id, status="succeeded", slot=None, epoch=4, progress=1.0,
             history=history(4), results=results, version_id=1)
    ended = admin.get(f"/admin/runs/{run_id}?seen=running", headers=HX).text
    assert "hx-trigger" not in ended.split('id="runs"')[0]         # no more polling
    assert 'data-status="succeeded"' in ended
    assert 'id="runs" class="runs" hx-swap-oob="true"' in ended    # the list and the models
    assert 'id="models" class="models" hx-swap-oob="true"' in ended
    assert 'data-testid="test-accuracy">99.10%' in ended
    assert 'data-testid="held-out-accuracy">80.0%' in ended
    assert 'data-testid="confusion"' in ended and ended.count("<rect") >= 100
    assert 'alt="A 4 read as 9; open every such digit"' in ended and "1 min 15 s" in ended
    assert "crossed 7" in ended
    quiet = admin.get(f"/admin/runs/{run_id}", headers=HX).text   # opened from the list
    assert "hx-swap-oob" not in quiet


def test_cancel_stops_a_queued_run_and_says_so_when_there_is_nothing_to_cancel(app, admin):
    admin.post("/admin/runs", data={"epochs": "1"}, headers=admin.hx)
    with app.app_context():
        run_id = runs.latest().id
    cancelled = admin.post(f"/admin/runs/{run_id}/cancel", headers=admin.hx)
    assert cancelled.status_code == 200 and 'data-status="cancelled"' in cancelled.text
    again = admin.post(f"/admin/runs/{run_id}/cancel", headers=admin.hx)
    assert again.status_code == 409 and "nothing to cancel" in again.text
    assert admin.post("/admin/runs/99/cancel", headers=admin.hx).status_code == 404
