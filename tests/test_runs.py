"""Training runs (``webapp/teaching``: ``settings``, ``runs``, ``worker``): settings validation,
one run at a time, cancel, dead workers, and a whole run done in-process (the way ``digits
retrain`` does it)."""

import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from werkzeug.datastructures import MultiDict

from tests.support import DATA_DIR, SHORT, needs_data, simultaneous_starts
from webapp.core import registry
from webapp.core.db import Sample, TrainingRun, db, utcnow
from webapp.teaching import runs, settings as retrain, worker

ROOT = Path(__file__).resolve().parent.parent
WITH_SAMPLES = replace(SHORT, include_samples=True)


def fresh(run_id):
    """The run's row as it is in the database now (another thread or process writes it)."""
    db.session.commit()
    db.session.expire_all()
    run = runs.get(run_id)
    db.session.commit()
    return run


# -- validation -------------------------------------------------------------------------

DEFAULT_FORM = {"hidden": "256", "epochs": "4", "eta": "0.05", "batch_size": "128",
                "augment": "on", "include_samples": "on", "sample_weight": "10",
                "start": "serving"}


def test_the_default_form_gives_the_defaults():
    settings, errors = retrain.validate(DEFAULT_FORM)
    assert errors == {} and settings == retrain.FINE_TUNE


@pytest.mark.parametrize("field, value, message", [
    ("epochs", "0", "Epochs must be a whole number from 1 to 200."),
    ("epochs", "201", "Epochs must be a whole number from 1 to 200."),
    ("epochs", "2.5", "Epochs must be a whole number from 1 to 200."),
    ("epochs", "many", "Epochs must be a whole number from 1 to 200."),
    ("hidden", "5", "Hidden units must be a whole number from 10 to 2048."),
    ("batch_size", "0", "Batch size must be a whole number from 1 to 4096."),
    ("sample_weight", "-1", "Sample weight must be a whole number from 1 to 100."),
    ("eta", "0", "Learning rate must be a number above 0 and at most 5"),
    ("eta", "fast", "Learning rate must be a number above 0 and at most 5"),
    ("eta", "nan", "Learning rate must be a number above 0 and at most 5"),
    ("start", "yesterday", "Start from must be the serving model or scratch."),
])
def test_bad_values_are_refused_with_a_message(field, value, message):
    settings, errors = retrain.validate({**DEFAULT_FORM, field: value})
    assert settings is None and list(errors) == [field]
    assert errors[field].startswith(message)


@pytest.mark.parametrize("form, expected", [
    ({"start": "serving"}, {"epochs": retrain.FINE_TUNE.epochs, "eta": retrain.FINE_TUNE.eta}),
    ({"start": "scratch", "epochs": " "}, {"epochs": 60, "eta": 0.5, "hidden": 256}),
    ({"start": "scratch", "hidden": "32", "epochs": "3"}, {"hidden": 32, "epochs": 3}),
    ({"augment": "on"}, {"augment": True, "include_samples": False}),
    ({"augment": "TRUE", "include_samples": "1"}, {"augment": True, "include_samples": True}),
    ({"augment": "off", "include_samples": ""}, {"augment": False, "include_samples": False}),
    (MultiDict([("augment", "0"), ("augment", "on")]), {"augment": True}),
])
def test_blank_fields_take_the_defaults_and_checkboxes_mean_present(form, expected):
    settings, errors = retrain.validate(form)
    assert errors == {}
    for name, value in expected.items():
        assert getattr(settings, name) == value, name


def test_scratch_defaults_come_from_train_config():
    from model.train import TrainConfig

    assert retrain.FROM_SCRATCH.epochs == TrainConfig().epochs
    assert retrain.FROM_SCRATCH.eta == TrainConfig().eta


# -- one run at a time ------------------------------------------------------------------

def test_a_second_start_is_refused_while_one_is_queued(app):
    with app.app_context():
        first = runs.start(retrain.FINE_TUNE, enqueue=False)
        with pytest.raises(runs.RunRefused, match=f"Training run #{first.id} is already queued: "
                                                  "wait for it to finish or cancel it."):
            runs.start(retrain.FINE_TUNE, enqueue=False)
        assert db.session.query(TrainingRun).count() == 1


def test_two_simultaneous_starts_in_threads_give_one_run(app):
    started, refused = simultaneous_starts(app, retrain.FINE_TUNE)
    assert len(started) == 1 and len(refused) == 3
    assert all(f"Training run #{started[0]} is already queued" in r for r in refused)
    with app.app_context():
        assert db.session.query(TrainingRun).count() == 1


START_IN_PROCESS = """
import sys, time
from pathlib import Path
from webapp import create_app
from webapp.teaching import runs, settings as retrain, worker
app = create_app()
go = Path(sys.argv[1])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
with app.app_context():
    try:
        print("started", runs.start(retrain.FINE_TUNE, enqueue=False).id, flush=True)
    except runs.RunRefused as exc:
        print("refused", exc, flush=True)
"""


def test_two_simultaneous_starts_in_processes_give_one_run(app, tmp_path):
    env = {**os.environ, "DIGITS_INSTANCE_PATH": app.instance_path}
    env.pop("DATABASE_URL", None)
    go = tmp_path / "go"
    clicks = [subprocess.Popen([sys.executable, "-c", START_IN_PROCESS, str(go)], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    for click in clicks:
        assert click.stdout.readline().strip() == "ready"
    go.touch()
    answers = [click.communicate(timeout=60)[0].strip() for click in clicks]
    assert sorted(a.split()[0] for a in answers) == ["refused", "started"], answers
    with app.app_context():
        assert db.session.query(TrainingRun).count() == 1


# -- cancel -----------------------------------------------------------------------------

def test_cancel_a_queued_run_at_once_and_start_again(app):
    with app.app_context():
        run = runs.start(retrain.FINE_TUNE, enqueue=False)
        cancelled = runs.cancel(run.id)
        assert cancelled.status == "cancelled" and cancelled.slot is None
        assert cancelled.finished is not None
        # A worker that picks the task up afterwards leaves it alone.
        assert worker.execute(run.id).status == "cancelled"
        with pytest.raises(runs.RunRefused, match="is over \\(cancelled\\)"):
            runs.cancel(run.id)
        with pytest.raises(runs.RunRefused, match="There is no training run #99"):
            runs.cancel(99)
        assert runs.start(retrain.FINE_TUNE, enqueue=False).id == run.id + 1


@needs_data
def test_cancel_a_running_run_stops_it_at_the_end_of_an_epoch(app):
    with app.app_context():
        versions = len(registry.versions())
        run = runs.start(replace(WITH_SAMPLES, epochs=200), enqueue=False)

        def work():
            with app.app_context():
                worker.execute(run.id)

        thread = threading.Thread(target=work)
        thread.start()
        deadline = time.monotonic() + 120
        while fresh(run.id).epoch < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fresh(run.id).status == "running"
        assert runs.cancel(run.id).cancel_requested
        thread.join(timeout=120)
        assert not thread.is_alive()
        run = fresh(run.id)
        assert run.status == "cancelled" and run.slot is None and run.version_id is None
        assert 1 <= run.epoch < 200
        assert len(registry.versions()) == versions


# -- dead workers -----------------------------------------------------------------------

def test_a_run_whose_heartbeat_stopped_is_shown_failed(app):
    app.config["JOB_STALE_SECONDS"] = 5
    with app.app_context():
        run = runs.start(retrain.FINE_TUNE, enqueue=False)
        assert worker.claim(run.id)
        run_id = run.id
        assert runs.latest().status == "running"             # a fresh heartbeat: alive
        runs.write(run_id, heartbeat=utcnow() - timedelta(seconds=8))
        run = runs.latest()
        assert run.id == run_id and run.status == "failed" and run.slot is None
        assert run.error == "The training worker stopped (no heartbeat for 8 s)."
        assert runs.start(retrain.FINE_TUNE, enqueue=False).id == run_id + 1


# -- a whole run ------------------------------------------------------------------------

def add_samples(images, labels, held_out):
    for image, label, hold in zip(images, labels, held_out):
        db.session.add(Sample(label=int(label), source="api", upload=b"\x89PNG",
                              upload_type="image/png", pixels=image.tobytes(), held_out=hold,
                              state="accepted"))
    db.session.commit()


@needs_data
def test_a_run_registers_a_version_with_its_results_and_does_not_promote_it(app):
    from model import mnist

    app.config["DATA_DIR"] = DATA_DIR
    data = mnist.load(DATA_DIR)
    with app.app_context():
        add_samples(data["test_images"][:5], data["test_labels"][:5], [False] * 3 + [True] * 2)
        run = runs.start(replace(WITH_SAMPLES, epochs=2), enqueue=False)
        seen = []
        run = worker.execute(run.id, report=seen.append)
        assert run.status == "succeeded", run.error
        assert [r["epoch"] for r in seen] == [1, 2] == [h["epoch"] for h in run.history]
        assert run.slot is None and run.progress == 1.0 and run.phase == "done"
        assert set(run.history[0]) >= {"epoch", "loss", "train_accuracy", "val_accuracy",
                                       "val_loss", "seconds"}
        # The same six units at the start and after every epoch, 784 weights each.
        assert [u["epoch"] for u in run.units] == [0, 1, 2]
        assert all(u["units"] == run.units[0]["units"] for u in run.units)
        assert len(run.units[0]["units"]) == 6 and len(run.units[2]["weights"][5]) == 784
        assert run.units[0]["weights"] != run.units[2]["weights"]
        results = run.results
        assert results["test_accuracy"] > 0.85 and len(results["per_class"]) == 10
        assert sum(map(sum, results["confusion"])) == 10_000
        assert len(results["worst"]) == 12
        worst = results["worst"][0]
        assert worst["label"] != worst["predicted"] and 0 < worst["confidence"] <= 1
        assert results["held_out"]["n"] == 2 and results["trained_samples"] == 3
        assert set(results["styles"]) == {"crossed 7", "1 with a flag", "1 with flag and foot",
                                          "9 with a curled tail"}
        assert results["settings"]["epochs"] == 2 and results["seconds"] > 0
        version = registry.get(run.version_id)
        assert version.origin == f"run {run.id}" and version.run_id == run.id
        assert version.metrics["test_accuracy"] == results["test_accuracy"]
        assert version.metrics["held_out_accuracy"] == results["held_out"]["accuracy"]
        assert registry.serving_id() == 1                     # never promoted by itself


def test_a_run_that_fails_says_why_and_frees_the_slot(app, tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITS_MNIST_MIRROR", (tmp_path / "no-mirror").as_uri() + "/")
    app.config["DATA_DIR"] = str(tmp_path / "empty")
    with app.app_context():
        run = worker.execute(runs.start(WITH_SAMPLES, enqueue=False).id)
        assert run.status == "failed" and run.slot is None and run.finished is not None
        assert run.error.startswith("Training failed: MNIST files missing in")
        assert len(registry.versions()) == 1
