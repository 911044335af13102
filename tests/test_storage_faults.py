"""Storage faults, made for real: a disk that fills up during a model save or a sample
upload, a database that refuses or ignores connections, a database locked by another
process.

What must hold: no partial model is ever stored or served, a run that could not finish is
marked failed with a readable reason, a visitor gets a clear 503 instead of a 500 or a
hang, and drawings keep being read by the model the process already has.
"""


import errno
import select
import socket
import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import event, func, select as sql_select

import model
from tests import images
from tests.support import (
    CHECK_AS_SHIPPED, DATA_DIR, HTTPS, HX_FROM_PAGE, SHORT, app_config, every_version_is_whole,
    needs_data, page_token, save_network, sqlite_is_intact, wait_for)
from webapp import create_app
from webapp.core import registry
from webapp.core.db import POSTGRES_CONNECT_TIMEOUT_SECONDS, Sample, db
from webapp.teaching import runs, worker


def sample_count(app):
    with app.app_context():
        n = db.session.scalar(sql_select(func.count()).select_from(Sample))
        db.session.commit()
        return n


# -- a full disk during the model save ----------------------------------------------------------

def full_from_now_on(connection):
    """Cap this SQLite connection's database at its present size: the next write that needs
    a new page fails with SQLITE_FULL, "database or disk is full", as on a full disk."""
    cursor = connection.cursor()
    pages = cursor.execute("PRAGMA page_count").fetchone()[0]
    cursor.execute(f"PRAGMA max_page_count = {pages}")
    cursor.close()


def fail_the_results_write(connection, cursor, statement, parameters, *_):
    """The write of the run's success, right after the new version's row: refused."""
    if statement.startswith("UPDATE training_runs") and "succeeded" in parameters:
        raise sqlite3.OperationalError("database or disk is full")


def fill_the_disk_at_the_version(connection, cursor, statement, *_):
    if statement.startswith("INSERT INTO model_versions"):
        full_from_now_on(connection.connection.dbapi_connection)


@needs_data
@pytest.mark.parametrize("fault", [fill_the_disk_at_the_version, fail_the_results_write])
def test_a_full_disk_during_the_model_save_fails_the_run_and_keeps_the_old_model(app, client,
                                                                                fault):
    # From scratch with 256 hidden units: the new version (~0.8 MB) cannot fit in the pages
    # the database freed before, so the disk is full for it whatever came earlier.
    settings = replace(SHORT, start="scratch", hidden=256)
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", fault)
        run_id = runs.start(settings, enqueue=False).id
        run = worker.execute(run_id, data_dir=DATA_DIR)        # as a worker runs it
        event.remove(db.engine, "before_cursor_execute", fault)
        assert run.status == "failed" and run.version_id is None and run.slot is None
        assert run.error.startswith("Training failed: its results could not be written to the "
                                    "database (database or disk is full)")
        assert "INSERT" not in run.error and len(run.error) < 300
        assert registry.serving_id() == 1
        db.session.remove()
        db.engine.dispose()          # the capped connections go: space was freed
    assert every_version_is_whole(app) == [1] and sqlite_is_intact(app)
    response = client.post("/api/v1/predict", data=images.drawing("7"), content_type="image/png")
    assert response.status_code == 200 and response.json["model"]["version"] == 1
    with app.app_context():           # the slot is free: the next run may start
        assert runs.start(settings, enqueue=False).id == run_id + 1


# -- a full disk during a sample upload -------------------------------------------------------

def test_a_full_disk_during_sample_uploads_answers_503_and_stores_nothing(app, client):
    app.config["RATELIMIT_ENABLED"] = False
    with app.app_context():
        db.engine.dispose()
        event.listen(db.engine, "connect", lambda connection, _: full_from_now_on(connection))
    # The pages the database has left take a few small drawings; then it is full.
    stored = 0
    for _ in range(40):
        response = client.post("/api/v1/samples?label=7", data=images.drawing("7"),
                               content_type="image/png")
        if response.status_code != 201:
            break
        stored += 1
    assert response.status_code == 503, response.text
    assert response.json == {"error": "Nothing was saved: the server's storage is full. "
                                      "Try again in a moment."}
    assert response.headers["Retry-After"]
    assert sample_count(app) == stored

    token = page_token(client)
    response = client.post("/corrections", base_url=HTTPS, headers={**HX_FROM_PAGE, "X-CSRFToken": token},
                           data={"image": images.data_url(images.drawing("7")), "label": "1"})
    assert response.status_code == 503
    assert 'data-testid="teach"' in response.text and "storage is full" in response.text
    assert sample_count(app) == stored and sqlite_is_intact(app)

    # Reading drawings needs no storage.
    response = client.post("/predict", headers=HX_FROM_PAGE, data={"image": images.data_url(images.drawing("7"))})
    assert response.status_code == 200 and "Model version 1" in response.text


def test_an_os_level_storage_error_is_a_503_too(app, client):
    """A write refused by the operating system (ENOSPC) on the way to storing a sample."""
    app.config["RATELIMIT_ENABLED"] = False

    def no_space(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute",
                     lambda _c, _cur, statement, *_: statement.startswith("INSERT") and no_space())
    response = client.post("/api/v1/samples?label=7", data=images.drawing("7"),
                           content_type="image/png")
    assert response.status_code == 503 and "storage is full" in response.json["error"]
    assert sample_count(app) == 0


# -- the database unavailable ------------------------------------------------------------------

class Link:
    """A TCP proxy to PostgreSQL that can be cut: ``down`` refuses connections and drops
    the open ones (the server stopped), ``silent`` takes connections and never answers
    (a server that hangs, a network that loses packets), ``up`` forwards again."""

    def __init__(self, target=("127.0.0.1", 5432)):
        self.target, self.state, self.open = target, "up", []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                state = self.state
                if state == "down":
                    client.close()
                    continue
                self.open.append(client)
            if state == "up":
                server = socket.create_connection(self.target)
                self.open.append(server)
                threading.Thread(target=self.pipe, args=(client, server), daemon=True).start()

    def pipe(self, a, b):
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 1)
                for source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    (b if source is a else a).sendall(data)
        except OSError:
            return

    def set(self, state):
        with self.lock:
            self.state = state
            for connection in self.open:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                connection.close()
            self.open = []

    def url(self, database_url):
        return database_url.replace("127.0.0.1:5432", f"127.0.0.1:{self.port}")


def timed(call):
    began = time.monotonic()
    result = call()
    return result, time.monotonic() - began


def test_postgresql_down_or_silent_answers_503_and_drawings_are_still_read(database_url,
                                                                          model_path, tmp_path):
    link = Link()
    app = create_app(app_config(tmp_path / "instance", MODEL=str(model_path),
                                DATABASE_URL=link.url(database_url),
                                MODEL_CHECK_SECONDS=CHECK_AS_SHIPPED, RATELIMIT_ENABLED=False))
    client = app.test_client()

    def store():
        return client.post("/api/v1/samples?label=7", data=images.drawing("7"),
                           content_type="image/png")

    def read():
        response = client.post("/api/v1/predict", data=images.drawing("7"),
                               content_type="image/png")
        assert response.status_code == 200
        return response.json["model"]["version"]

    assert store().status_code == 201 and read() == 1
    token = page_token(client)

    for state in ("down", "silent"):
        link.set(state)
        response, seconds = timed(store)
        assert response.status_code == 503, response.text
        assert response.json["error"] == ("Nothing was saved: the database is not available "
                                          "right now. Try again in a moment.")
        assert seconds < POSTGRES_CONNECT_TIMEOUT_SECONDS + 5       # bounded, not a hang
        response = client.post("/corrections", base_url=HTTPS,
                               headers={**HX_FROM_PAGE, "X-CSRFToken": token},
                               data={"image": images.data_url(images.drawing("7")), "label": "1"})
        assert response.status_code == 503 and "database is not available" in response.text
        page = client.get("/admin/login", base_url=HTTPS)     # reads the password's hash
        assert page.status_code == 503 and page.mimetype == "text/html"
        assert ("This page could not be shown: the database is not available right now."
                in page.text)
        # Drawings go on being read, by the model this process has, and none waits for
        # the database: the version check backs off and runs beside the requests.
        began, slowest = time.monotonic(), 0.0
        while time.monotonic() - began < 3.5:
            version, seconds = timed(read)
            assert version == 1
            slowest = max(slowest, seconds)
        assert slowest < POSTGRES_CONNECT_TIMEOUT_SECONDS / 2, slowest
        page = client.get("/")
        assert page.status_code == 200 and "Model version 1" in page.text

    # Back up: samples are stored again, and a promotion made meanwhile is followed.
    link.set("up")
    other = create_app(app_config(tmp_path / "other", MODEL=str(model_path),
                                  DATABASE_URL=database_url))
    with other.app_context():
        net, meta = model.load(save_network(tmp_path / "v2.npz", sizes=(784, 8, 10), seed=4))
        registry.promote(registry.register(net, meta, {"test_accuracy": None}, origin="t").id)
    assert store().status_code == 201
    wait_for(lambda: read() == 2, timeout=20, what="the promoted version")
    link.listener.close()


def test_a_locked_sqlite_database_answers_503_in_bounded_time_and_drawings_are_read(app,
                                                                                   client):
    """Another process holds SQLite's write lock (a long transaction, a backup)."""
    app.config["RATELIMIT_ENABLED"] = False
    holder = sqlite3.connect(Path(app.instance_path) / "digits.sqlite", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        response = client.post("/api/v1/predict", data=images.drawing("7"),
                                content_type="image/png")
        assert response.status_code == 200 and response.json["model"]["version"] == 1
        response, seconds = timed(lambda: client.post(
            "/api/v1/samples?label=7", data=images.drawing("7"), content_type="image/png"))
        assert response.status_code == 503
        assert response.json["error"].startswith("Nothing was saved: the database is not "
                                                 "available right now.")
        assert seconds < 25        # SQLite's busy timeout, inside gunicorn's 30 s
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert sample_count(app) == 0
    response = client.post("/api/v1/samples?label=7", data=images.drawing("7"),
                           content_type="image/png")
    assert response.status_code == 201 and sample_count(app) == 1


def test_a_locked_postgresql_table_answers_503_in_bounded_time_and_drawings_are_read(
        database_url, model_path, tmp_path):
    """Another session holds the tables (a migration, a stuck transaction): ``lock_timeout``."""
    import psycopg

    app = create_app(app_config(tmp_path / "instance", MODEL=str(model_path),
                                DATABASE_URL=database_url, MODEL_CHECK_SECONDS=CHECK_AS_SHIPPED,
                                RATELIMIT_ENABLED=False))
    client = app.test_client()
    with psycopg.connect(database_url) as holder:
        holder.execute("LOCK TABLE samples, serving IN ACCESS EXCLUSIVE MODE")
        time.sleep(1.1)                    # the version check is due
        began, slowest = time.monotonic(), 0.0
        while time.monotonic() - began < 2.5:
            response, seconds = timed(lambda: client.post(
                "/api/v1/predict", data=images.drawing("7"), content_type="image/png"))
            assert response.status_code == 200 and response.json["model"]["version"] == 1
            slowest = max(slowest, seconds)
        assert slowest < 2, slowest
        response, seconds = timed(lambda: client.post(
            "/api/v1/samples?label=7", data=images.drawing("7"), content_type="image/png"))
        assert response.status_code == 503, response.text
        assert "the database is not available right now" in response.json["error"]
        assert seconds < 25
        holder.rollback()
    response = client.post("/api/v1/samples?label=7", data=images.drawing("7"),
                           content_type="image/png")
    assert response.status_code == 201 and sample_count(app) == 1
