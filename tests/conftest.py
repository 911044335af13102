"""Shared fixtures: the app on a tiny model, its test client, and a live server for Chromium.

Helpers that are not fixtures (``app_config``, ``save_network``, ``serving``…)
are in ``tests/support.py``, which test modules import; nothing imports this.

flaskr's layout: ``app`` is built by ``create_app(test_config)`` around a
small seeded network written to a temporary file, so web tests never depend
on the shipped model's exact numbers. The browser tests run the real app
with the shipped model on a free loopback port in a thread, and launch
Debian's Chromium through pytest-playwright (``browser_type_launch_args``).
"""

import os
import socket
import uuid

import psycopg
import pytest

import model
from tests.chromium import launch_options
from tests.live import digits_serve
from tests.support import (
    CHECK_AS_SHIPPED, HX, app_config, browser, log_in, save_network, serving, set_password,
    token)
from webapp import create_app


@pytest.fixture(scope="session")
def shipped():
    """The shipped model, loaded once: ``(net, metadata)``."""
    return model.load(model.PRETRAINED)


@pytest.fixture(scope="session")
def shipped_net(shipped):
    """The shipped network alone."""
    return shipped[0]


@pytest.fixture
def model_path(tmp_path):
    return save_network(tmp_path / "model.npz")


@pytest.fixture
def app(model_path, tmp_path):
    return create_app(app_config(tmp_path / "instance", MODEL=str(model_path)))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def admin(app):
    """A logged-in browser; ``admin.hx`` are the headers htmx sends (with the CSRF token)."""
    set_password(app)
    client = browser(app)
    assert log_in(client).status_code == 302
    client.hx = {**HX, "X-CSRFToken": token(client, "/admin/")}
    return client


# -- browser tests ------------------------------------------------------------------------

@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """The app serving the shipped model at ``http://127.0.0.1:<free port>``."""
    app = create_app(app_config(tmp_path_factory.mktemp("live"), TESTING=False,
                                 MODEL=str(model.PRETRAINED),
                                 MODEL_CHECK_SECONDS=CHECK_AS_SHIPPED))
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


# -- a real digits serve, for the attack tests ---------------------------------------------------

@pytest.fixture(scope="module")
def attack_server(tmp_path_factory):
    """``digits serve --workers 2`` as shipped (SQLite, loopback, its training worker) on a
    free port, on a fresh instance folder it makes itself, around a tiny model; the admin
    password is ``tests.live.ATTACK_PASSWORD``. One per test module; a ``tests.live.Served``."""
    folder = tmp_path_factory.mktemp("attack")
    with digits_serve(folder / "instance", save_network(folder / "model.npz")) as served:
        yield served
