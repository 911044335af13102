"""Shared fixtures: the app on a tiny model, its test client, and a live server for Chromium.

flaskr's layout: ``app`` is built by ``create_app(test_config)`` around a
small seeded network written to a temporary file, so web tests never depend
on the shipped model's exact numbers. The browser tests run the real app
with the shipped model on a free loopback port in a thread, and launch
Debian's Chromium through pytest-playwright (``browser_type_launch_args``).
"""

import multiprocessing
import os
import socket
import threading
from contextlib import contextmanager
import uuid
from pathlib import Path

import numpy as np
import psycopg
import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

import model
from tests.chromium import launch_options
from webapp import create_app


DATA_DIR = os.environ.get("DIGITS_DATA_DIR")
needs_data = pytest.mark.skipif(
    not DATA_DIR or not Path(DATA_DIR, "t10k-images-idx3-ubyte.gz").exists(),
    reason="full MNIST not present: set DIGITS_DATA_DIR to the directory of the four idx .gz files")


def save_network(path, sizes=(784, 16, 10), seed=1, output_bias=None, zero_weights=False):
    """Write a small network to ``path``; zero weights and ``output_bias`` (10,) fix its answer."""
    net = model.Network(list(sizes), seed=seed)
    if zero_weights:
        net.weights = [np.zeros_like(w) for w in net.weights]
    if output_bias is not None:
        net.biases[-1] = np.asarray(output_bias, dtype=net.dtype)
    model.save(path, net)
    return path


@pytest.fixture
def model_path(tmp_path):
    return save_network(tmp_path / "model.npz")


def app_config(instance, **settings):
    """An app's settings for tests: its own instance folder (SQLite database, queue) in ``instance``."""
    return {"TESTING": True, "SECRET_KEY": "test", "INSTANCE_PATH": str(instance),
            "MODEL_CHECK_SECONDS": 0, **settings}


@pytest.fixture
def app(model_path, tmp_path):
    return create_app(app_config(tmp_path / "instance", MODEL=str(model_path)))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# -- browser tests ------------------------------------------------------------------------

class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


def start_together(target, arguments, timeout=120):
    """Run ``target(*args, start)`` in one new process per ``args`` in ``arguments``, all let go
    at the same moment (``start`` is an Event each waits on); returns their exit codes."""
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    processes = [context.Process(target=target, args=(*args, start)) for args in arguments]
    for p in processes:
        p.start()
    start.set()
    for p in processes:
        p.join(timeout)
    return [p.exitcode for p in processes]


@contextmanager
def serving(app):
    """``app`` served in a thread at ``http://127.0.0.1:<free port>`` (the URL is yielded)."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """The app serving the shipped model at ``http://127.0.0.1:<free port>``."""
    app = create_app(app_config(tmp_path_factory.mktemp("live"), TESTING=False,
                                 MODEL=str(model.PRETRAINED), MODEL_CHECK_SECONDS=1.0))
    with serving(app) as url:
        yield url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium when present ($DIGITS_CHROMIUM first), quiet and offline."""
    return launch_options(browser_type_launch_args)


# -- PostgreSQL and Redis, for the multi-host mode --------------------------------------------

POSTGRES = os.environ.get("DIGITS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("DIGITS_TEST_REDIS", "redis://127.0.0.1:6379/0")


def reachable(host, port):
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def require(service, host, port):
    if not reachable(host, port):
        if os.environ.get("CI"):
            pytest.fail(f"{service} is not running on {host}:{port}, and CI needs it")
        pytest.skip(f"{service} is not running on {host}:{port}")


@pytest.fixture
def database_url():
    """A fresh schema in PostgreSQL's ``test`` database, dropped afterwards."""
    require("PostgreSQL", "127.0.0.1", 5432)
    schema = f"digits_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    yield POSTGRES + f"?options=-csearch_path%3D{schema}"
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def redis_url():
    require("Redis", "127.0.0.1", 6379)
    return REDIS
