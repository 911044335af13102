"""The job queue (``webapp/teaching``: ``queue``, ``worker``) with a real huey consumer:
``digits worker`` in its own process, pointed at the test's instance folder, runs a retrain; killed with SIGKILL in the
middle of an epoch, its run is shown failed and the served model stays as it was."""

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from huey import RedisHuey, SqliteHuey

from tests.support import (
    SHORT, app_config, free_port, needs_data, simultaneous_starts, wait_until, worker_env)
from webapp import create_app
from webapp.core import registry
from webapp.ops.cli import cli as digits
from webapp.teaching import runs, settings as retrain, worker as training_worker

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def worker(app):
    """Start ``digits worker`` for ``app``; stopped (or found killed) at the end."""
    processes = []

    def start(**settings):
        process = training_worker.start_consumer_process(worker_env(app, **settings))
        processes.append(process)
        return process

    yield start
    for process in processes:
        training_worker.stop_consumer_process(process)


def test_the_queue_is_sqlite_in_the_instance_folder(app):
    huey = app.extensions["digits_queue"].huey
    assert isinstance(huey, SqliteHuey)
    assert huey.storage.filename == str(Path(app.instance_path) / "huey.sqlite")
    with app.app_context():
        runs.start(retrain.FINE_TUNE)
        assert huey.pending_count() == 1           # kept on disk until a worker takes it


def test_the_queue_is_redis_when_redis_url_is_set(model_path, tmp_path):
    app = create_app(app_config(tmp_path / "instance", MODEL=str(model_path),
                                REDIS_URL="redis://127.0.0.1:6379/0", HUEY_NAME="t"))
    assert isinstance(app.extensions["digits_queue"].huey, RedisHuey)


@needs_data
def test_a_worker_runs_a_queued_retrain_and_registers_a_version(app, worker):
    worker()
    with app.app_context():
        run = runs.start(SHORT)
        run = wait_until(lambda: runs.get(run.id) if runs.get(run.id).status not in runs.ACTIVE
                         else None)
        assert run.status == "succeeded", run.error
        assert run.version_id == 2 and registry.get(2).origin == f"run {run.id}"
        assert registry.serving_id() == 1
        assert run.results["test_accuracy"] > 0.85 and run.heartbeat is not None


@needs_data
def test_a_worker_killed_mid_epoch_leaves_a_failed_run_and_the_served_model(app, worker):
    app.config["JOB_STALE_SECONDS"] = 3
    process = worker()
    with app.app_context():
        run = runs.start(replace(SHORT, epochs=200, augment=True))
        run_id = run.id
        wait_until(lambda: runs.get(run_id).epoch >= 1, what="the first epoch")
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        killed = time.monotonic()
        run = wait_until(lambda: runs.latest() if runs.latest().status != "running" else None,
                         timeout=30, what="the failed run")
        assert time.monotonic() - killed >= 2    # not before its heartbeat was late
        assert run.id == run_id and run.status == "failed" and run.slot is None
        assert run.error.startswith("The training worker stopped (no heartbeat for ")
        assert run.version_id is None and [v.id for v in registry.versions()] == [1]
        assert registry.serving_id() == 1
        assert runs.start(SHORT, enqueue=False).id == run_id + 1    # the slot is free again
    with app.test_request_context():
        from webapp.core.served import get_model

        assert get_model().version == 1


def test_a_worker_started_after_a_crash_marks_the_dead_run_failed(app, worker):
    """``digits worker`` reaps at start: no dashboard needs to be open."""
    app.config["JOB_STALE_SECONDS"] = 1
    with app.app_context():
        run = runs.start(SHORT, enqueue=False)
        training_worker.claim(run.id)
        run_id = run.id
    time.sleep(1.5)      # the claim's heartbeat goes stale (no thread is beating for it)
    worker(JOB_STALE_SECONDS=1)
    with app.app_context():
        run = wait_until(lambda: runs.get(run_id) if runs.get(run_id).status == "failed" else None,
                         timeout=60)
        assert "no heartbeat" in run.error


def test_the_worker_command_is_registered(runner):
    result = runner.invoke(args=["worker", "--help"])
    assert result.exit_code == 0 and "training worker" in result.output
    assert "--no-worker" in runner.invoke(digits, args=["serve", "--help"]).output


def process_gone(pid):
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in state       # exited, waiting for its parent to reap it


@needs_data
def test_serve_starts_one_worker_beside_the_web_server_and_stops_it(app, tmp_path):
    log = tmp_path / "serve.log"
    with open(log, "w") as err:
        serve = subprocess.Popen([sys.executable, "-m", "webapp.ops.cli", "serve", "--port",
                                  str(free_port()), "--workers", "1"], env=worker_env(app), stdout=subprocess.DEVNULL,
                                 stderr=err, start_new_session=True)
    try:
        with app.app_context():
            run = runs.start(SHORT)
            run = wait_until(lambda: runs.get(run.id) if runs.get(run.id).status
                             not in runs.ACTIVE else None)
            assert run.status == "succeeded", run.error
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
    pid = int(re.search(r"training worker (\d+) consuming", log.read_text()).group(1))
    assert process_gone(pid)


@needs_data
def test_on_postgresql_and_redis_one_run_at_a_time_kill_and_retrain(model_path, tmp_path,
                                                                    database_url, redis_url):
    """The multi-host set-up: runs in PostgreSQL, the queue in Redis."""
    name = f"digits-test-{uuid.uuid4().hex[:8]}"
    app = create_app(app_config(tmp_path / "instance", MODEL=str(model_path),
                                DATABASE_URL=database_url, REDIS_URL=redis_url, HUEY_NAME=name,
                                JOB_STALE_SECONDS=3))
    env = {**worker_env(app), "DATABASE_URL": database_url, "REDIS_URL": redis_url,
           "DIGITS_HUEY_NAME": name}
    huey = app.extensions["digits_queue"].huey
    started, refused = simultaneous_starts(app, replace(SHORT, epochs=200, augment=True),
                                           clicks=3, enqueue=True)
    assert len(started) == 1 and len(refused) == 2 and huey.pending_count() == 1
    run_id = started[0]

    worker = training_worker.start_consumer_process(env)
    try:
        with app.app_context():
            wait_until(lambda: runs.get(run_id).epoch >= 1, what="the first epoch")
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
            run = wait_until(lambda: runs.latest() if runs.latest().status != "running"
                             else None, timeout=30, what="the failed run")
            assert run.status == "failed" and "no heartbeat" in run.error
            assert registry.serving_id() == 1 and len(registry.versions()) == 1

        worker = training_worker.start_consumer_process(env)
        with app.app_context():
            run = runs.start(SHORT)
            run = wait_until(lambda: runs.get(run.id) if runs.get(run.id).status
                             not in runs.ACTIVE else None)
            assert run.status == "succeeded", run.error
            assert registry.get(run.version_id).origin == f"run {run.id}"
    finally:
        training_worker.stop_consumer_process(worker)
        huey.flush()
