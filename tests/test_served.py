"""The served model: loaded once per process from the database, swapped when the served
version changes, never replaced by a version that does not load."""

import re
import threading
import time

import pytest
from sqlalchemy import event, update

import model
from tests import images
from tests.support import app_config, save_network
from webapp import create_app
from webapp.core import registry, served
from webapp.core.db import ModelVersion, db
from webapp.security import instance_secret_key


def answer(client):
    return client.post("/api/v1/predict", data=images.drawing("7"),
                       content_type="image/png").json["model"]


def add_version(app, tmp_path, sizes=(784, 8, 10), seed=2):
    with app.app_context():
        net, meta = model.load(save_network(tmp_path / f"v{seed}.npz", sizes=sizes, seed=seed))
        return registry.register(net, meta, {"test_accuracy": None}, origin="test").id


def test_the_configured_model_is_version_1(client):
    assert answer(client) == {"version": 1, "sizes": [784, 16, 10], "deskew": True}


def test_a_promotion_is_picked_up_by_the_next_request(app, client, tmp_path):
    new = add_version(app, tmp_path)
    assert answer(client)["version"] == 1           # registered is not served
    with app.app_context():
        registry.promote(new)
    assert answer(client) == {"version": new, "sizes": [784, 8, 10], "deskew": True}
    assert len(re.findall(r'class="unit[^"]*" data-unit="', client.get("/").text)) == 8


def test_another_app_on_the_same_database_follows_a_promotion(app, tmp_path):
    other = create_app(app_config(tmp_path / "instance"))
    new = add_version(app, tmp_path)
    with app.app_context():
        registry.promote(new)
    assert answer(other.test_client())["version"] == new


def test_a_corrupt_version_keeps_the_old_model_serving(app, client, tmp_path, caplog):
    new = add_version(app, tmp_path)
    with app.app_context():
        db.session.execute(update(ModelVersion).where(ModelVersion.id == new)
                           .values(weights=b"PK\x03\x04 not a model"))
        db.session.commit()
        with pytest.raises(model.CheckpointError, match="SHA-256"):
            registry.promote(new)                   # refused before it is served
        # Even if the row is switched behind the registry's back, no process serves it.
        db.session.execute(update(served.db.Model.metadata.tables["serving"])
                           .values(version_id=new))
        db.session.commit()
    assert answer(client)["version"] == 1
    assert "keeping model version 1" in caplog.text


class Clock:
    """``time.monotonic`` for ``served``, moved on by hand: an hour passes at once."""

    def __init__(self):
        self.now = time.monotonic()

    def monotonic(self):
        return self.now


def test_the_database_is_asked_once_per_interval_and_again_after_it(model_path, tmp_path,
                                                                     monkeypatch):
    clock = Clock()
    monkeypatch.setattr(served, "time", clock)
    app = create_app(app_config(tmp_path / "instance", MODEL=str(model_path),
                                 MODEL_CHECK_SECONDS=3600))
    client = app.test_client()
    asked = []                              # the served model's own looks at the serving row
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute",
                     lambda _c, _cur, statement, *_: asked.append(statement)
                     if "FROM serving" in statement
                     and threading.current_thread().name == "served-model-check" else None)
    first, second = add_version(app, tmp_path, seed=2), add_version(app, tmp_path, seed=3)
    with app.app_context():
        registry.promote(first)
    assert [answer(client)["version"] for _ in range(3)] == [1, 1, 1]
    assert asked == []                      # inside the interval nobody asks

    clock.now += 3601                       # the interval is over: the next request asks
    assert [answer(client)["version"] for _ in range(3)] == [first] * 3
    assert len(asked) == 1                  # once, not once per request

    with app.app_context():
        registry.promote(second)
    clock.now += 60
    assert answer(client)["version"] == first and len(asked) == 1
    clock.now += 3600                       # and every interval after that, again
    assert answer(client)["version"] == second and len(asked) == 2


def test_the_shipped_model_is_the_default_version_1(tmp_path):
    app = create_app(app_config(tmp_path / "instance"))
    with app.app_context():
        assert registry.get(1).origin == "shipped"
        assert registry.get(1).weights == model.PRETRAINED.read_bytes()


def test_environment_configures_the_app(model_path, monkeypatch, tmp_path):
    monkeypatch.setenv("DIGITS_MODEL", str(model_path))
    monkeypatch.setenv("DIGITS_SECRET_KEY", "from-env")
    monkeypatch.setenv("DIGITS_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'env.sqlite'}")
    app = create_app()
    assert app.config["SECRET_KEY"] == "from-env"
    assert (tmp_path / "env.sqlite").exists()
    with app.app_context():
        assert served.get_model().net.sizes == [784, 16, 10]


def test_an_unreadable_model_at_start_up_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"junk")
    with pytest.raises(model.CheckpointError, match="broken.npz"):
        create_app(app_config(tmp_path / "instance", MODEL=str(bad)))


def test_a_model_that_does_not_read_digits_is_refused(app, tmp_path):
    net, meta = model.load(save_network(tmp_path / "wrong.npz", sizes=(100, 8, 10)))
    with app.app_context(), pytest.raises(model.CheckpointError, match="784 inputs"):
        registry.register(net, meta, {}, origin="wrong")


def test_secret_key_is_made_once_and_kept_private(tmp_path):
    first = instance_secret_key(tmp_path / "instance")
    assert len(first) == 64 and instance_secret_key(tmp_path / "instance") == first
    assert (tmp_path / "instance" / "secret_key").stat().st_mode & 0o077 == 0
    assert [p.name for p in (tmp_path / "instance").iterdir()] == ["secret_key"]
