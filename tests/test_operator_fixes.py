"""What a new operator tripped over: retraining without MNIST, the promote hint, held-out n."""

import gzip
import re
from pathlib import Path
import subprocess
import sys

from sqlalchemy import update

from model import mnist
from tests.support import DATA_DIR, HX, needs_data
from webapp.core import registry
from webapp.core.db import ModelVersion, db


def test_without_mnist_the_dashboard_names_all_four_files_and_offers_no_start(app, admin,
                                                                              tmp_path):
    app.config["DATA_DIR"] = str(tmp_path / "nowhere")
    page = admin.get("/admin/").text
    for name, _ in mnist.FILES.values():
        assert page.count(name) == 2            # in the Data panel and in the Train form
    assert "DIGITS_DATA_DIR" in page and "digits fetch-mnist" in page
    assert 'data-testid="start-run"' not in page


def test_with_mnist_the_start_button_is_there(app, admin, tmp_path):
    data = tmp_path / "mnist"
    data.mkdir()
    for name, _ in mnist.FILES.values():
        (data / name).write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x00"))
    app.config["DATA_DIR"] = str(data)
    page = admin.get("/admin/").text
    assert 'data-testid="start-run"' in page and 'data-testid="mnist-missing"' not in page


def test_digits_retrain_without_mnist_prints_a_message_and_no_traceback(tmp_path):
    """The real command, as an operator runs it: stderr too, where the log goes."""
    env = {"DIGITS_INSTANCE_PATH": str(tmp_path / "instance"),
           "DIGITS_DATA_DIR": str(tmp_path / "empty"),
           "DIGITS_MNIST_MIRROR": (tmp_path / "no-mirror").as_uri() + "/",
           "DIGITS_SECRET_KEY": "x", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "webapp.ops.cli", "retrain", "--epochs", "1"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1
    assert "MNIST files missing in" in result.stderr and "DIGITS_DATA_DIR" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_fetch_mnist_without_a_mirror_is_a_message(runner, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    monkeypatch.setenv("DIGITS_MNIST_MIRROR", mirror.as_uri() + "/")
    result = runner.invoke(args=["fetch-mnist", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 1 and "MNIST files missing in" in result.output
    assert "Traceback" not in result.output


@needs_data
def test_fetch_mnist_downloads_the_four_files(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITS_MNIST_MIRROR", Path(DATA_DIR).resolve().as_uri() + "/")
    result = runner.invoke(args=["fetch-mnist", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == sorted(
        name for name, _ in mnist.FILES.values())


@needs_data
def test_retrain_does_not_suggest_a_promotion_it_would_refuse(app, runner):
    with app.app_context():
        db.session.execute(update(ModelVersion).where(ModelVersion.id == 1)
                           .values(metrics={"test_accuracy": 0.999}))
        db.session.commit()
    result = runner.invoke(args=["retrain", "--epochs", "1", "--no-augment",
                                 "--no-include-samples", "--data-dir", DATA_DIR])
    assert result.exit_code == 0, result.output
    assert "serve it with" not in result.output
    assert re.search(r"not promoted: Model version 2 reads [\d.]+% .* below version 1's "
                     r"99\.90%; if you are sure, `digits models promote 2 --force`", result.output)
    with app.app_context():
        assert registry.needs_force(registry.get(2)) is not None


def test_the_models_table_shows_n_for_each_held_out_accuracy(app, admin):
    with app.app_context():
        db.session.execute(update(ModelVersion).where(ModelVersion.id == 1)
                           .values(metrics={"test_accuracy": 0.98, "held_out_accuracy": 0.75,
                                            "held_out_n": 40}))
        db.session.commit()
    fragment = admin.get("/admin/models", headers=HX).text
    cell = re.search(r'data-testid="held-out-1">(.*?)</td>', fragment, re.S).group(1)
    assert "75.0%" in cell and "n = 40" in cell


def test_an_open_dashboard_learns_of_a_run_started_elsewhere_and_clears_the_refusal(app, admin):
    from webapp.teaching import runs
    from webapp.teaching.settings import FINE_TUNE

    page = admin.get("/admin/").text
    shown = re.search(r'data-newest="([^"]+)"', page).group(1)
    assert shown == "none" and 'hx-trigger="every 4s"' in page
    assert admin.get(f"/admin/runs?shown={shown}", headers=HX).status_code == 204
    with app.app_context():                          # as `digits retrain` starts one
        run_id = runs.start(FINE_TUNE, enqueue=False).id
    news = admin.get(f"/admin/runs?shown={shown}", headers=HX)
    assert news.status_code == 200
    assert f'data-newest="{run_id}-queued"' in news.text
    assert re.search(r'<div id="run" class="run is-queued"[^>]*hx-swap-oob="true"', news.text)
    refused = admin.post("/admin/runs", data={"epochs": "1"}, headers=admin.hx)
    assert refused.status_code == 409 and "already" in refused.text
    with app.app_context():
        runs.finish(run_id, "failed", error="stopped")
    ended = admin.get(f"/admin/runs?shown={run_id}-queued", headers=HX).text
    assert f'data-newest="{run_id}-failed"' in ended
    train = ended[ended.index('<div id="train"'):]
    assert 'hx-swap-oob="true"' in train[:80] and "already" not in train
    assert admin.get(f"/admin/runs?shown={run_id}-failed", headers=HX).status_code == 204
