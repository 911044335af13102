"""The attack script, finding 6: a training worker killed outright, against a real ``digits
serve --workers 2`` (``tests/live.py``). Each server here is its own: these tests kill things.

``digits serve`` must start another worker, a run the dead one left ``running`` must be
marked failed without anyone loading a page, and ``/healthz`` must say when a queued run
has no worker to take it. Each failed on the code before the fix.
"""

import json
import os
import signal
import sqlite3
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.live import Visitor, digits_serve
from tests.support import save_network

# Quick heartbeats, so a dead run is stale in seconds rather than the shipped 20 s.
FAST = {"JOB_HEARTBEAT_SECONDS": 0.5, "JOB_STALE_SECONDS": 4}


@pytest.fixture
def model(tmp_path):
    return save_network(tmp_path / "model.npz")


def trainers(served):
    return [pid for pid in served.children()
            if "webapp.ops.cli worker" in served.command_line(pid)]


def wait(check, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def query(served, sql, *args):
    with sqlite3.connect(served.instance / "digits.sqlite", timeout=30) as connection:
        return connection.execute(sql, args).fetchall()


def leave_a_run_running(served):
    """The row a worker killed mid-run leaves: ``running``, its heartbeat a moment old."""
    now = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(seconds=1)
    query(served, "INSERT INTO training_runs (created, started, heartbeat, status, slot, "
                  "settings, phase, epoch, epochs, progress, history, units, "
                  "cancel_requested) VALUES (?, ?, ?, 'running', 1, '{}', 'epoch 1', 1, 4, "
                  "0.25, '[]', '[]', 0)", now, now, now)
    return query(served, "SELECT max(id) FROM training_runs")[0][0]


def status(served, run_id):
    return query(served, "SELECT status, error FROM training_runs WHERE id = ?", run_id)[0]


def start_run(served):
    admin = Visitor(served.url)
    assert admin.log_in().status == 302
    answer = admin.post("/admin/runs", form={"epochs": "1", "csrf_token": admin.csrf("/admin/")},
                        headers={"HX-Request": "true"})
    assert answer.status == 202, answer
    return query(served, "SELECT max(id) FROM training_runs")[0][0]


def test_a_killed_worker_is_restarted_and_its_run_reaped_without_a_page_load(tmp_path, model):
    with digits_serve(tmp_path / "instance", model, **FAST) as served:
        [first] = wait(lambda: trainers(served), 30, "the training worker's start")
        run_id = leave_a_run_running(served)
        os.kill(first, signal.SIGKILL)
        [second] = wait(lambda: [p for p in trainers(served) if p != first], 30,
                        "a new training worker")
        assert "training worker %d exited" % first in served.output()
        # Nobody loads a page: only the database is read from here on.
        state, error = wait(lambda: status(served, run_id)[0] == "failed"
                            and status(served, run_id), 30, "the dead run's reaping")
        assert "no heartbeat" in error
        assert second in trainers(served)


def test_a_run_queued_after_the_kill_is_taken_by_the_new_worker(tmp_path, model):
    data = tmp_path / "no-mnist"        # the run fails at once; being taken is what counts
    data.mkdir()
    with digits_serve(tmp_path / "instance", model, DATA_DIR=data, **FAST) as served:
        [first] = wait(lambda: trainers(served), 30, "the training worker's start")
        os.kill(first, signal.SIGKILL)
        wait(lambda: [p for p in trainers(served) if p != first], 30, "a new training worker")
        run_id = start_run(served)
        wait(lambda: status(served, run_id)[0] != "queued", 60, "the queued run's start")


def healthz(served):
    answer = Visitor(served.url).get("/healthz")
    return answer.status, json.loads(answer.text)


def test_healthz_says_no_training_worker_when_a_queued_run_has_none(tmp_path, model):
    with digits_serve(tmp_path / "instance", model, "--no-worker", **FAST) as served:
        code, body = healthz(served)
        assert code == 200 and body["status"] == "ok"          # nothing waits: nothing missing
        run_id = start_run(served)
        code, body = healthz(served)
        assert body["status"] != "ok" and "training" in body["down"], body
        assert body["training"]["ok"] is False
        assert f"no training worker: run {run_id} is queued" in body["training"]["error"]
        assert code == 200          # pages and readings still work: degraded, not down


def test_healthz_counts_the_live_worker(tmp_path, model):
    with digits_serve(tmp_path / "instance", model, **FAST) as served:
        code, body = wait(lambda: (lambda h: h[1]["training"].get("workers") and h)(
            healthz(served)), 30, "the worker's first heartbeat")
        assert code == 200 and body["status"] == "ok" and body["training"]["workers"] == 1
