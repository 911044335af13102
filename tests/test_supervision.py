"""Keeping a training worker alive (``teaching.worker``'s Supervisor and Presence) and
/healthz's word on it. The same, against a real ``digits serve``, is in
``test_attack_worker.py``."""

import logging
import subprocess
import sys
from datetime import timedelta

import pytest

from tests.support import wait_for
from webapp.core.db import TrainingRun, TrainingWorker, db, utcnow
from webapp.teaching import runs, worker
from webapp.teaching.settings import FINE_TUNE


@pytest.fixture
def sleepers(monkeypatch):
    """Consumers that only sleep: what the Supervisor starts, without the app."""
    started = []

    def start(env=None):
        started.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]))
        return started[-1]

    monkeypatch.setattr(worker, "start_consumer_process", start)
    yield started
    for process in started:
        process.kill()
        process.wait()


def test_the_supervisor_starts_another_consumer_when_one_dies(sleepers, caplog):
    supervisor = worker.Supervisor(logging.getLogger("test.supervisor"), check_seconds=0.05)
    supervisor.start()
    try:
        with caplog.at_level(logging.INFO, logger="test.supervisor"):
            sleepers[0].kill()
            wait_for(lambda: len(sleepers) == 2, 10, "a second consumer")
            assert sleepers[1].poll() is None and supervisor.process is sleepers[1]
            assert supervisor.restarts == 1
        assert f"training worker {sleepers[0].pid} exited" in caplog.text
    finally:
        supervisor.stop()
    assert sleepers[1].poll() is not None            # stopped with the supervisor


def test_a_consumer_that_keeps_dying_is_restarted_ever_more_slowly(sleepers, monkeypatch):
    pauses = []
    supervisor = worker.Supervisor(logging.getLogger("test.supervisor"), check_seconds=0.01)
    real_wait = supervisor.stopping.wait

    def wait(seconds):
        if seconds >= 1:
            pauses.append(seconds)
            seconds = 0
        return real_wait(seconds)

    monkeypatch.setattr(supervisor.stopping, "wait", wait)
    supervisor.start()
    try:
        for dead in range(4):
            wait_for(lambda: len(sleepers) == dead + 1, 10, "the next consumer")
            sleepers[dead].kill()
        wait_for(lambda: len(pauses) >= 4, 10, "four restarts")
    finally:
        supervisor.stop()
    assert pauses[:4] == [2.0, 4.0, 8.0, 16.0]


def test_stopping_the_supervisor_does_not_start_another(sleepers):
    supervisor = worker.Supervisor(logging.getLogger("test.supervisor"), check_seconds=0.05)
    supervisor.start()
    supervisor.stop()
    assert len(sleepers) == 1 and sleepers[0].poll() is not None


def test_presence_announces_the_worker_reaps_stale_runs_and_leaves(app):
    with app.app_context():
        run = runs.start(FINE_TUNE, enqueue=False)
        runs.write(run.id, only_if="queued", status="running",
                   heartbeat=utcnow() - timedelta(seconds=app.config["JOB_STALE_SECONDS"] + 1))
    presence = worker.Presence(app)
    presence.beat()
    with app.app_context():
        assert db.session.get(TrainingRun, run.id).status == "failed"
        assert [w.name for w in db.session.scalars(db.select(TrainingWorker))] == \
            [presence.name_in_table]
        db.session.commit()
    presence.stop()
    with app.app_context():
        assert db.session.scalars(db.select(TrainingWorker)).all() == []


def health(client):
    response = client.get("/healthz")
    return response.status_code, response.get_json()


def test_healthz_says_no_training_worker_only_when_a_run_waits_for_one(app, client):
    training = health(client)[1]["training"]
    assert training == {"ok": True, "workers": 0, "queued": False, "ms": training["ms"]}
    with app.app_context():
        run = runs.start(FINE_TUNE, enqueue=False)
    code, body = health(client)
    assert code == 200 and body["status"] == "degraded" and body["down"] == ["training"]
    assert body["training"]["error"].startswith(f"no training worker: run {run.id} is queued")
    with app.app_context():
        db.session.add(TrainingWorker(name="host:1", started=utcnow(), seen=utcnow()))
        db.session.commit()
    code, body = health(client)
    assert body["status"] == "ok" and body["training"]["workers"] == 1
    with app.app_context():
        row = db.session.get(TrainingWorker, "host:1")
        row.seen -= timedelta(seconds=app.config["JOB_STALE_SECONDS"] + 1)    # killed
        db.session.commit()
    assert health(client)[1]["status"] == "degraded"
