"""``digits serve`` as deployed: gunicorn with several worker processes, each holding its own
model, all following a promotion made elsewhere (here: by another process on the same
database) within about a second."""

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import model
from tests import images
from tests.support import app_config, free_port, save_network
from webapp import create_app
from webapp.core import registry


def predict(url):
    request = urllib.request.Request(url + "/api/v1/predict", data=images.drawing("7"),
                                     headers={"Content-Type": "image/png",
                                              "Connection": "close"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["model"]["version"]


@pytest.fixture
def server(tmp_path, model_path):
    """``digits serve --workers 3`` on a free port, on its own instance folder."""
    port = free_port()
    env = {**os.environ, "DIGITS_INSTANCE_PATH": str(tmp_path / "instance"),
           "DIGITS_MODEL": str(model_path), "DIGITS_SECRET_KEY": "test",
           "DIGITS_PREDICT_RATE_LIMIT": "0"}    # its checks read as fast as they can
    digits = Path(sys.executable).with_name("digits")
    process = subprocess.Popen([digits, "serve", "--port", str(port), "--workers", "3"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            predict(url)
            break
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("digits serve did not start: " + process.stderr.read().decode())
            time.sleep(0.2)
    yield url
    os.killpg(process.pid, 15)
    process.wait(30)


def test_every_worker_serves_the_promoted_version_within_two_seconds(server, tmp_path,
                                                                     model_path):
    assert {predict(server) for _ in range(30)} == {1}
    app = create_app(app_config(tmp_path / "instance", MODEL=str(model_path)))
    with app.app_context():
        net, meta = model.load(save_network(tmp_path / "v2.npz", sizes=(784, 8, 10), seed=4))
        new = registry.register(net, meta, {"test_accuracy": None}, origin="test").id
        registry.promote(new)
    promoted = time.monotonic()
    seen = []
    while time.monotonic() - promoted < 2.0:
        seen.append((time.monotonic() - promoted, predict(server)))
    # From 2 s on, every answer, whichever worker gives it, comes from the new version.
    after = [predict(server) for _ in range(60)]
    assert set(after) == {new}
    first_new = min(t for t, v in seen if v == new)
    assert first_new < 2.0
    # Once a worker has switched it never answers with the old version again; the answers
    # seen are old ones followed by new ones per worker, so no old answer comes late.
    late_old = [t for t, v in seen if v != new and t > 1.5]
    assert not late_old, f"old version answered {late_old} s after the promotion"


def test_the_promote_command_returns_once_every_worker_serves_the_new_version(
        server, tmp_path, model_path):
    assert {predict(server) for _ in range(10)} == {1}
    app = create_app(app_config(tmp_path / "instance", MODEL=str(model_path)))
    with app.app_context():
        net, meta = model.load(save_network(tmp_path / "v2.npz", sizes=(784, 8, 10), seed=4))
        new = registry.register(net, meta, {"test_accuracy": None}, origin="test").id
    env = {**os.environ, "DIGITS_INSTANCE_PATH": str(tmp_path / "instance"),
           "DIGITS_MODEL": str(model_path), "DIGITS_SECRET_KEY": "test"}
    digits = Path(sys.executable).with_name("digits")
    stop = threading.Event()

    def keep_asking():         # workers busy as in use: each looks again every second
        while not stop.is_set():
            predict(server)

    askers = [threading.Thread(target=keep_asking) for _ in range(3)]
    for asker in askers:
        asker.start()
    try:
        done = subprocess.run([digits, "models", "promote", str(new)], env=env,
                              capture_output=True, text=True, timeout=60)
        after = [predict(server) for _ in range(60)]
    finally:
        stop.set()
        for asker in askers:
            asker.join()
    assert done.stdout == f"now serving model version {new}\n", done.stderr
    assert set(after) == {new}
