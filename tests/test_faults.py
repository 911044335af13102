"""Faults, made for real: a web worker and a training worker killed with SIGKILL.

What must hold: no partial model is ever stored or served, a run that could not finish is
marked failed with a readable reason, and the other web worker keeps answering. (The kill
of a training worker mid-epoch is in ``test_jobs.py``; a full disk and a database that is
down or locked are in ``test_storage_faults.py``.)
"""


import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests import images
from tests.support import (
    SHORT, app_config, every_version_is_whole, free_port, needs_data, predict,
    sqlite_is_intact, wait_for, wait_until, worker_env)
from webapp import create_app
from webapp.core import registry
from webapp.core.db import db
from webapp.teaching import runs

ROOT = Path(__file__).resolve().parent.parent


# -- a web worker killed mid-request ----------------------------------------------------------

@pytest.fixture
def serve(tmp_path, model_path):
    """``digits serve --workers 2 --no-worker`` on a free port: (url, the gunicorn master)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("DIGITS_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DIGITS_INSTANCE_PATH=str(tmp_path / "instance"), DIGITS_MODEL=str(model_path),
               DIGITS_SECRET_KEY="test", PYTHONPATH=str(ROOT),
               DIGITS_PREDICT_RATE_LIMIT="0")      # three visitors on one address, as fast as they can
    log = open(tmp_path / "serve.log", "w")
    master = subprocess.Popen([sys.executable, "-m", "webapp.ops.cli", "serve", "--port", str(port),
                               "--workers", "2", "--no-worker"],
                              env=env, stdout=log, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            predict(url, timeout=10)
            if len(children(master.pid)) == 2:
                break
        except (urllib.error.URLError, OSError):
            pass
        if master.poll() is not None or time.monotonic() > deadline:
            master.kill()
            pytest.fail("digits serve did not start: " + (tmp_path / "serve.log").read_text())
        time.sleep(0.2)
    yield url, master, port
    os.killpg(master.pid, signal.SIGTERM)
    master.wait(60)
    log.close()


def children(pid):
    return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def worker_holding(connection, port, workers):
    """The worker process that accepted ``connection`` (our client socket to ``port``)."""
    client_port = connection.getsockname()[1]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        inodes = set()
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if (int(local.split(":")[1], 16) == port
                    and int(remote.split(":")[1], 16) == client_port):
                inodes.add(f"socket:[{fields[9]}]")
        for pid in workers:
            fds = Path(f"/proc/{pid}/fd")
            for fd in fds.iterdir():
                try:
                    if os.readlink(fd) in inodes:
                        return pid
                except OSError:
                    continue
        time.sleep(0.05)
    raise AssertionError("no worker accepted the connection")


def test_a_web_worker_killed_mid_request_is_replaced_and_the_other_keeps_answering(serve):
    url, master, port = serve
    old = children(master.pid)
    # A request in flight: headers and half the body sent, the rest withheld.
    body = images.drawing("7")
    in_flight = socket.create_connection(("127.0.0.1", port))
    in_flight.sendall(f"POST /api/v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      f"Content-Type: image/png\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                      + body[:len(body) // 2])
    victim = worker_holding(in_flight, port, old)

    answers, stop = [], threading.Event()

    def visitor():
        while not stop.is_set():
            began = time.monotonic()
            try:
                predict(url)
                answers.append((began, True))
            except (urllib.error.URLError, OSError) as exc:
                answers.append((began, exc))

    visitors = [threading.Thread(target=visitor) for _ in range(3)]
    for thread in visitors:
        thread.start()
    time.sleep(1.0)
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    time.sleep(3.0)
    stop.set()
    for thread in visitors:
        thread.join(60)

    # The request in flight on the killed worker gets no answer; it is the only loss.
    in_flight.settimeout(10)
    try:
        assert in_flight.recv(1024) == b""
    except ConnectionResetError:
        pass
    in_flight.close()
    # Others the killed worker had taken may be lost with it (gthread workers take several
    # at once); every request sent after the kill is answered, by the other worker.
    failed = [(killed - began, error) for began, error in answers if error is not True]
    assert len(failed) <= len(visitors) and all(before > 0 for before, _ in failed), failed
    after = [error for began, error in answers if began > killed]
    assert len(after) >= 3 and all(error is True for error in after), after

    # gunicorn starts a replacement, and it answers: with the surviving worker stopped,
    # only the new one can.
    new = wait_for(lambda: children(master.pid) - old, timeout=60, what="a new worker")
    survivor = (old - {victim}).pop()
    os.kill(survivor, signal.SIGSTOP)
    try:
        for _ in range(3):
            assert predict(url, timeout=60) == 1
    finally:
        os.kill(survivor, signal.SIGCONT)
    assert len(new) == 1 and victim not in children(master.pid)


# -- the training worker killed while it saves the model --------------------------------------

# Started as ``digits worker``, with one thing added: when the new version's row has been
# sent to the database (inside the transaction, before its COMMIT), say so and wait to be
# killed. The kill then lands in the save, every time.
PAUSE_IN_THE_SAVE = """
import os, sys, time
from sqlalchemy import event
from sqlalchemy.orm import Session
from webapp.core.db import ModelVersion
from webapp.ops.cli import main

@event.listens_for(Session, "after_flush")
def pause(session, _context):
    if any(isinstance(row, ModelVersion) for row in session.new):
        open(os.environ["SAVING_MARKER"], "w").close()
        time.sleep(3600)

main(["worker"])
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def any_database(request, model_path, tmp_path):
    """An app on SQLite in its instance folder, or on a fresh PostgreSQL schema."""
    settings = {"MODEL": str(model_path), "JOB_STALE_SECONDS": 3}
    if request.param == "postgresql":
        settings["DATABASE_URL"] = request.getfixturevalue("database_url")
    return create_app(app_config(tmp_path / "instance", **settings))


@needs_data
def test_a_worker_killed_during_the_model_save_stores_and_serves_nothing(any_database,
                                                                        tmp_path):
    app = any_database
    marker = tmp_path / "saving"
    env = {**worker_env(app, JOB_STALE_SECONDS=3), "SAVING_MARKER": str(marker)}
    if app.config.get("DATABASE_URL"):
        env["DATABASE_URL"] = app.config["DATABASE_URL"]
    process = subprocess.Popen([sys.executable, "-c", PAUSE_IN_THE_SAVE], env=env,
                               start_new_session=True)
    try:
        with app.app_context():
            run_id = runs.start(SHORT).id
            db.session.remove()
        # Not a query meanwhile: on SQLite the paused save holds the write lock.
        wait_for(marker.exists, timeout=300, what="the model save")
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    with app.app_context():
        run = wait_until(lambda: runs.latest() if runs.latest().status != "running" else None,
                         timeout=60, what="the failed run")
        assert run.id == run_id and run.status == "failed" and run.version_id is None
        assert "no heartbeat" in run.error and run.phase == "failed"
        assert registry.serving_id() == 1
        db.session.commit()
    assert every_version_is_whole(app) == [1]
    if not app.config.get("DATABASE_URL"):
        assert sqlite_is_intact(app)
    with app.test_request_context():
        from webapp.core.served import get_model

        assert get_model().version == 1
