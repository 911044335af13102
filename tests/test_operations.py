"""Operations: /healthz up and down, the request log, ``digits serve``'s defaults, a graceful
shutdown, and slow clients that must not starve everyone else."""

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests import images
from tests.live import children
from tests.support import app_config, browser, free_port, log_in, set_password
from webapp import create_app
from webapp.core.db import db
from webapp.ops.cli import cli as digits

# -- /healthz -------------------------------------------------------------------------------


def test_healthz_reports_every_part_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["down"] == []
    assert body["database"]["ok"] is True
    assert body["model"] == {"ok": True, "version": 1, "ms": body["model"]["ms"]}
    assert body["queue"]["ok"] is True
    assert body["queue"]["backend"] == "sqlite" and body["queue"]["pending"] == 0
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_counts_pending_tasks(app, client):
    app.extensions["digits_queue"].retrain(99)      # a run id nobody will consume here
    assert client.get("/healthz").get_json()["queue"]["pending"] == 1


def test_healthz_is_503_naming_the_database_when_it_cannot_be_reached(app, client, tmp_path):
    with app.app_context():
        db.engine.dispose()             # the pool's open connections go; new ones must open it
    database = tmp_path / "instance" / "digits.sqlite"
    database.rename(tmp_path / "elsewhere.sqlite")
    database.mkdir()                    # the path is there, but no database can be opened
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "down" and body["down"] == ["database"]
    assert body["database"]["ok"] is False
    # Anyone may ask: the answer names what is down, never the driver's words (paths, hosts).
    assert "unable to open" not in body["database"]["error"]
    assert str(tmp_path) not in response.text
    # The model already loaded keeps serving, and says which version it is.
    assert body["model"] == {"ok": True, "version": 1, "ms": body["model"]["ms"]}
    answer = client.post("/api/v1/predict", data=images.drawing("7"),
                         headers={"Content-Type": "image/png"})
    assert answer.status_code == 200 and answer.get_json()["model"]["version"] == 1


def test_healthz_is_503_naming_the_queue_when_its_storage_is_broken(app, client, tmp_path):
    app.extensions["digits_queue"].huey.storage.close()
    queue = tmp_path / "instance" / "huey.sqlite"
    queue.rename(tmp_path / "elsewhere-huey.sqlite")
    queue.mkdir()
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["down"] == ["queue"] and body["queue"]["ok"] is False
    assert body["database"]["ok"] is True


def test_healthz_is_503_when_redis_does_not_answer(tmp_path, model_path):
    """The anonymous answer says the queue is down; only the admin's says why (and where)."""
    app = create_app(app_config(tmp_path / "instance", MODEL=str(model_path),
                                REDIS_URL="redis://127.0.0.1:1/0"))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["down"] == ["queue"]
    assert "ConnectionError" not in response.text and "127.0.0.1:1" not in response.text
    set_password(app)
    admin = browser(app)
    assert log_in(admin).status_code == 302
    detailed = admin.get("/healthz").get_json()
    assert detailed["down"] == ["queue"] and "ConnectionError" in detailed["queue"]["error"]


def test_healthz_on_postgresql_and_redis(tmp_path, model_path, database_url, redis_url):
    app = create_app(app_config(tmp_path / "instance", MODEL=str(model_path),
                                DATABASE_URL=database_url, REDIS_URL=redis_url,
                                HUEY_NAME=f"digits-health-{tmp_path.name}"))
    response = app.test_client().get("/healthz")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["queue"]["backend"] == "redis"


# -- the request log ----------------------------------------------------------------------------


def test_each_request_is_logged_once_with_method_path_status_and_duration(client, caplog):
    with caplog.at_level(logging.INFO, logger="digits.requests"):
        client.get("/")
        client.post("/api/v1/predict", data=b"not a picture",
                    headers={"Content-Type": "image/png"})
        client.get("/static/draw.js")            # static files and good health checks: quiet
        client.get("/healthz")
    lines = [r.getMessage() for r in caplog.records if r.name == "digits.requests"]
    assert len(lines) == 2, lines
    assert re.fullmatch(r"GET / 200 \d+\.\d ms", lines[0])
    assert re.fullmatch(r"POST /api/v1/predict 400 \d+\.\d ms", lines[1])


def test_a_failing_health_check_is_logged(app, client, caplog):
    app.extensions["digits_queue"].huey.storage.close()
    app.extensions["digits_queue"].huey.storage.filename = "/nonexistent/dir/huey.sqlite"
    with caplog.at_level(logging.INFO, logger="digits.requests"):
        client.get("/healthz")
    assert any(re.fullmatch(r"GET /healthz 503 \d+\.\d ms", r.getMessage())
               for r in caplog.records if r.name == "digits.requests")


# -- digits serve's settings ----------------------------------------------------------------


def test_serve_defaults_to_a_gthread_worker_per_core(runner, monkeypatch):
    from webapp.ops import server

    started = []
    monkeypatch.setattr(server.Server, "run",
                        lambda self: started.append({**self.options, "proxies": self.proxies}))
    monkeypatch.delenv("DIGITS_WORKERS", raising=False)
    port = free_port()
    result = runner.invoke(digits, args=["serve", "--no-worker", "--port", str(port)])
    assert result.exit_code == 0, result.output
    options = started[0]
    assert options["workers"] == len(os.sched_getaffinity(0))
    assert options["worker_class"] == "gthread" and options["threads"] == server.THREADS
    assert options["bind"] == f"127.0.0.1:{port}"
    assert options["proxies"] == 0

    monkeypatch.setenv("DIGITS_WORKERS", "3")
    runner.invoke(digits, args=["serve", "--no-worker", "--port", "0"])
    assert started[1]["workers"] == 3
    runner.invoke(digits, args=["serve", "--no-worker", "--port", "0", "--workers", "5",
                                 "--threads", "8"])
    assert (started[2]["workers"], started[2]["threads"]) == (5, 8)
    monkeypatch.setenv("DIGITS_PROXIES", "1")
    runner.invoke(digits, args=["serve", "--no-worker", "--port", "0"])
    assert started[3]["proxies"] == 1


def test_serve_on_a_taken_port_says_which_and_how_to_choose_another(runner, monkeypatch):
    from webapp.ops import server

    started = []
    monkeypatch.setattr(server.Server, "run", lambda self: started.append(self.options))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(digits, args=["serve", "--no-worker", "--port", str(port)])
    assert result.exit_code == 1 and started == []
    assert f"Port {port} on 127.0.0.1 is already in use" in result.output
    assert "--port" in result.output and "DIGITS_PORT" in result.output


def test_serve_help_shows_how_to_choose_the_port(runner):
    out = runner.invoke(digits, args=["serve", "--help"]).output
    assert "--port" in out and "$DIGITS_PORT" in out and "--host" in out


@pytest.mark.parametrize("proxies, seen", [(0, "127.0.0.1"), (1, "203.0.113.9")])
def test_behind_a_proxy_the_visitor_is_the_forwarded_address(tmp_path, model_path,
                                                             monkeypatch, proxies, seen):
    """The login throttle and the samples' rate limit count per visitor (request.remote_addr):
    behind nginx that is X-Forwarded-For, and only when the proxy is declared trusted."""
    from flask import request

    from webapp.ops.server import Server

    monkeypatch.setenv("DIGITS_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("DIGITS_MODEL", str(model_path))
    monkeypatch.setenv("DIGITS_SECRET_KEY", "test")
    app = Server({"bind": "127.0.0.1:0"}, proxies=proxies).load()
    app.add_url_rule("/whoami", "whoami", lambda: request.remote_addr)
    answer = app.test_client().get("/whoami", headers={"X-Forwarded-For": "203.0.113.9"})
    assert answer.text == seen


# -- digits serve, running --------------------------------------------------------------------


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read()


@contextmanager
def digits_serve(tmp_path, model_path, *args):
    """``digits serve *args`` on a free port; yields (port, process). Output in serve.log."""
    port = free_port()
    env = {**os.environ, "DIGITS_INSTANCE_PATH": str(tmp_path / "instance"),
           "DIGITS_MODEL": str(model_path), "DIGITS_SECRET_KEY": "test"}
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([Path(sys.executable).with_name("digits"), "serve",
                                    "--port", str(port), *args],
                                   env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            break
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("digits serve did not start:\n" + log.read_text())
            time.sleep(0.2)
    try:
        yield port, process
    finally:
        for pid in children(process.pid):    # the trainer has a session of its own
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def is_running(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_lets_a_request_in_flight_finish_and_stops_the_training_worker(tmp_path,
                                                                              model_path):
    png = images.drawing("7")
    log = tmp_path / "serve.log"
    with digits_serve(tmp_path, model_path, "--workers", "2") as (port, process):
        deadline = time.monotonic() + 30
        while len(helpers := children(process.pid)) < 3:   # two web workers, the trainer
            assert time.monotonic() < deadline, (helpers, log.read_text())
            time.sleep(0.05)
        while "consuming queue" not in log.read_text():    # the trainer is up, not starting
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        upload = socket.create_connection(("127.0.0.1", port), timeout=30)
        # A first request on the connection: once answered, a worker surely holds it.
        upload.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = b""
        while b"\r\n\r\n" not in first:
            first += upload.recv(65536)
        head, _, body = first.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
        while len(body) < length:
            body += upload.recv(65536)
        assert head.startswith(b"HTTP/1.1 200") and len(body) == length
        # The second is in flight: its headers and part of its body sent, the rest to come.
        upload.sendall(b"POST /api/v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       b"Content-Type: image/png\r\nConnection: close\r\n"
                       + f"Content-Length: {len(png)}\r\n\r\n".encode() + png[:1000])
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while "Handling signal: term" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        time.sleep(0.5)                     # the workers have been told to stop meanwhile
        assert process.poll() is None
        upload.sendall(png[1000:])
        answer = b""
        while chunk := upload.recv(65536):
            answer += chunk
        upload.close()
        assert process.wait(60) == 0, log.read_text()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), (answer[:500], log.read_text())
    assert json.loads(body)["model"]["version"] == 1
    assert not any(is_running(pid) for pid in helpers), log.read_text()
    text = log.read_text()
    assert "POST /api/v1/predict 200" in text
    assert "Consumer exiting" in text, text


def drip(port, count):
    """``count`` connections that have started a request and send one more byte a second:
    half are still sending their headers, half a POST's body."""
    sockets = []
    for i in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        if i % 2:
            s.sendall(b"POST /api/v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Content-Type: image/png\r\nContent-Length: 50000\r\n\r\n\x89")
        else:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
        sockets.append(s)
    return sockets


def test_sixty_dripping_connections_do_not_starve_other_visitors(tmp_path, model_path):
    png = images.drawing("7")
    with digits_serve(tmp_path, model_path, "--workers", "2", "--no-worker") as (port, _):
        url = f"http://127.0.0.1:{port}"
        slow = drip(port, 60)
        try:
            for second in range(5):
                time.sleep(1)
                for s in slow:
                    s.sendall(b"a" if second % 2 else b"b")
                assert get(url + "/")[0] == 200
                request = urllib.request.Request(url + "/api/v1/predict", data=png,
                                                 headers={"Content-Type": "image/png"})
                with urllib.request.urlopen(request, timeout=10) as response:
                    assert json.load(response)["digit"] is not None
                assert get(url + "/healthz")[0] == 200
            # The slow ones were kept waiting, not dropped: every one is still open.
            for s in slow:
                s.sendall(b"c")
        finally:
            for s in slow:
                s.close()
