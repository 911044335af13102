"""The served model: loaded once per process, swapped when its file is replaced."""

import os

import pytest

import model
from tests import images
from tests.conftest import save_network
from webapp import create_app, instance_secret_key, served


def version(client):
    return client.post("/api/v1/predict", data=images.drawing("7"),
                       content_type="image/png").json["model"]


def test_a_new_model_file_is_picked_up_by_the_next_request(client, model_path):
    before = version(client)
    assert before["sizes"] == [784, 16, 10]
    save_network(model_path, sizes=(784, 8, 10), seed=2)      # atomic replace, as training does
    after = version(client)
    assert after["sizes"] == [784, 8, 10] and after["version"] != before["version"]
    page = client.get("/").text
    assert page.count("data-unit=") == 8


def test_a_broken_model_file_keeps_the_old_model_serving(client, model_path, caplog):
    before = version(client)
    model_path.write_bytes(b"not a model")
    assert version(client) == before
    assert "cannot reload" in caplog.text
    os.unlink(model_path)
    assert version(client) == before


def test_the_file_is_checked_at_most_once_per_interval(model_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "MODEL": str(model_path),
                      "MODEL_CHECK_SECONDS": 3600})
    client = app.test_client()
    before = version(client)
    save_network(model_path, sizes=(784, 8, 10), seed=2)
    assert version(client) == before


def test_the_shipped_model_is_the_default():
    app = create_app({"TESTING": True, "SECRET_KEY": "t"})
    with app.app_context():
        assert served.get_model().path == model.PRETRAINED


def test_environment_configures_the_app(model_path, monkeypatch):
    monkeypatch.setenv("DIGITS_MODEL", str(model_path))
    monkeypatch.setenv("DIGITS_SECRET_KEY", "from-env")
    app = create_app()
    assert app.config["SECRET_KEY"] == "from-env"
    with app.app_context():
        assert served.get_model().path == model_path


def test_an_unreadable_model_at_start_up_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"junk")
    with pytest.raises(model.CheckpointError, match="broken.npz"):
        create_app({"TESTING": True, "SECRET_KEY": "t", "MODEL": str(bad)})


def test_a_model_that_does_not_read_digits_is_refused(tmp_path):
    path = save_network(tmp_path / "wrong.npz", sizes=(100, 8, 10))
    with pytest.raises(model.CheckpointError, match="784 inputs"):
        served.load(path)


def test_secret_key_is_made_once_and_kept_private(tmp_path):
    first = instance_secret_key(tmp_path / "instance")
    assert len(first) == 64 and instance_secret_key(tmp_path / "instance") == first
    assert (tmp_path / "instance" / "secret_key").stat().st_mode & 0o077 == 0
    assert [p.name for p in (tmp_path / "instance").iterdir()] == ["secret_key"]
