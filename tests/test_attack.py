"""The attack script: issue 15's findings replayed against a real ``digits serve --workers 2``.

Each test does what an attacker did: real HTTP (``tests/live.py``: ``http.client``, raw
sockets for what no client library sends), against the server as shipped (gunicorn, two
workers, its training worker, SQLite, loopback). Each failed on the code before the fixes.
Here: sessions that end (finding 1), the login throttle (2), and the smaller findings (8).
The training worker's supervision (6) is in ``test_attack_worker.py``; the limits on
samples, storage and readings in ``test_attack_limits.py``.
"""

import hashlib
import json
import sqlite3
import stat
import threading
import time
import uuid
from unittest import mock

from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from tests.live import ATTACK_PASSWORD, Visitor, digits_serve, raw_http
from tests.support import save_network

WRONG = "a wrong guess"
BROWSER_COOKIE = "digits_admin_browser"      # webapp.admin.throttle's trusted-browser cookie


def database(served):
    return sqlite3.connect(served.instance / "digits.sqlite", timeout=30)


def admin(served):
    """A logged-in admin's browser."""
    visitor = Visitor(served.url)
    answer = visitor.log_in()
    assert answer.status == 302, answer
    return visitor


def copy(visitor, served):
    """What a thief holds: another client with a copy of ``visitor``'s cookies."""
    thief = Visitor(served.url)
    thief.cookies = dict(visitor.cookies)
    return thief


# -- 1. Logout ends the session -------------------------------------------------------------

def test_a_cookie_copied_before_logout_is_logged_out_with_it(attack_server):
    victim = admin(attack_server)
    thief = copy(victim, attack_server)
    assert thief.get("/admin/").status == 200
    assert victim.post("/admin/logout", form={"csrf_token": victim.csrf("/admin/")}).status == 302
    page = thief.get("/admin/")
    assert page.status == 302 and page.location.startswith("/admin/login"), page


def test_a_copied_cookie_and_its_csrf_token_change_nothing_after_logout(attack_server):
    victim = admin(attack_server)
    csrf = victim.csrf("/admin/")
    stolen = dict(victim.cookies)
    victim.post("/admin/logout", form={"csrf_token": csrf})
    thief = Visitor(attack_server.url)
    thief.cookies = stolen
    answer = thief.post("/admin/runs/999/cancel", form={"csrf_token": csrf})
    assert answer.status == 400 and "not sent from a page of this site" in answer.text, answer
    htmx = Visitor(attack_server.url)
    htmx.cookies = dict(stolen)
    assert htmx.get("/admin/runs", headers={"HX-Request": "true"}).status == 401


def test_a_new_password_ends_every_session(attack_server):
    first, second = admin(attack_server), admin(attack_server)
    changed = attack_server.digits("admin", "set-password", "--password-stdin",
                                   input="a new password\n")
    assert changed.returncode == 0, changed.stderr
    try:
        for visitor in (first, second):
            assert visitor.get("/admin/").status == 302
    finally:
        attack_server.digits("admin", "set-password", "--password-stdin",
                             input=ATTACK_PASSWORD + "\n")


def forged_cookie(served, data, age_seconds):
    """A session cookie signed with the server's own key ``age_seconds`` ago."""
    app = Flask(__name__)
    app.secret_key = (served.instance / "secret_key").read_text().strip()
    signer = SecureCookieSessionInterface().get_signing_serializer(app)
    with mock.patch("itsdangerous.timed.time.time", return_value=time.time() - age_seconds):
        return signer.dumps(data)


def test_a_session_thirty_days_old_is_refused(attack_server):
    """The cookie main accepted for 31 days, and a real session aged past its limits."""
    with database(attack_server) as connection:
        hashed = connection.execute(
            "SELECT value FROM settings WHERE key = 'admin_password_hash'").fetchone()[0]
    old = Visitor(attack_server.url)
    old.cookies["session"] = forged_cookie(
        attack_server, {"admin": hashlib.sha256(hashed.encode()).hexdigest()[:16]}, 30 * 86400)
    assert old.get("/admin/").status == 302

    visitor = admin(attack_server)
    with database(attack_server) as connection:
        connection.execute("UPDATE admin_sessions SET created = datetime('now', '-30 days')")
    assert visitor.get("/admin/").status == 302

    idle = admin(attack_server)
    with database(attack_server) as connection:
        connection.execute("UPDATE admin_sessions SET last_seen = datetime('now', '-2 hours')")
    assert idle.get("/admin/").status == 302


# -- 8. Smaller findings ------------------------------------------------------------------------

def head_of(answer):
    return answer.partition(b"\r\n\r\n")[0].decode("latin-1")


def test_a_foreign_host_header_never_steers_a_redirect(attack_server):
    for path in (b"/admin", b"/admin/", b"/"):
        answer = raw_http(attack_server.port, b"GET " + path + b" HTTP/1.1\r\n"
                          b"Host: evil.example\r\nConnection: close\r\n\r\n")
        head = head_of(answer)
        assert head.startswith("HTTP/1.1 400"), head
        assert "evil.example" not in head
    ours = raw_http(attack_server.port, b"GET /admin HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                    b"Connection: close\r\n\r\n" % attack_server.port)
    assert f"Location: http://127.0.0.1:{attack_server.port}/admin/" in head_of(ours)


def test_a_line_feed_in_the_path_cannot_forge_a_log_line(attack_server):
    marker = uuid.uuid4().hex
    forged = f"[2026-12-02 10:00:00,000] POST /admin/login 302 1.0 ms {marker}"
    answer = raw_http(attack_server.port, b"GET /x%0A" + forged.replace(" ", "%20").encode()
                      + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert head_of(answer).startswith("HTTP/1.1 404")
    deadline = time.monotonic() + 10
    while marker not in attack_server.output() and time.monotonic() < deadline:
        time.sleep(0.1)
    [line] = [line for line in attack_server.output().splitlines() if marker in line]
    assert not line.startswith("[2026-12-02 10:00:00"), line
    assert "GET /x\\n[2026-12-02 10:00:00,000] POST" in line


def test_a_next_with_cr_lf_after_a_correct_login_is_a_safe_redirect(attack_server):
    for target in ("/admin/\r\nSet-Cookie: planted=1", "/admin/%0d%0a", "/admin/\n"):
        visitor = Visitor(attack_server.url)
        answer = visitor.log_in(next=target)
        assert answer.status == 302, answer
        assert answer.location in ("/admin/", target) and "\n" not in answer.location
        assert "planted" not in answer.headers.get("set-cookie", "")
        assert visitor.get("/admin/").status == 200


def test_the_instance_folder_and_its_files_are_private(attack_server):
    folder = attack_server.instance
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}
    assert {"digits.sqlite", "digits.sqlite-wal", "huey.sqlite", "secret_key"} <= set(files)
    assert set(files.values()) == {0o600}, files


def test_https_gets_hsts_and_anonymous_healthz_shows_no_driver_details(tmp_path):
    """Behind a proxy (--proxies 1) that says https; Redis named but not answering."""
    with digits_serve(tmp_path / "instance", save_network(tmp_path / "model.npz"),
                      "--proxies", "1", "--no-worker", password=None,
                      REDIS_URL="redis://127.0.0.1:1/0") as served:
        visitor = Visitor(served.url)
        secure = visitor.get("/", headers={"X-Forwarded-Proto": "https"})
        assert secure.headers.get("strict-transport-security") == "max-age=31536000"
        assert "strict-transport-security" not in visitor.get("/").headers
        health = visitor.get("/healthz")
        assert health.status == 503 and json.loads(health.text)["down"] == ["queue"]
        for detail in ("127.0.0.1:1", "Error 111", "ConnectionError", "refused"):
            assert detail not in health.text, health.text


# -- 2. Guessing the password cannot lock the admin out (last: it leaves 127.0.0.1 counted) -----

def test_forty_parallel_guesses_get_five_checks_and_the_admin_still_gets_in(attack_server):
    admins_browser = admin(attack_server)
    admins_browser.post("/admin/logout", form={"csrf_token": admins_browser.csrf("/admin/")})
    assert BROWSER_COOKIE in admins_browser.cookies
    checked_before = attack_server.output().count("failed admin login from")
    guessers = [Visitor(attack_server.url) for _ in range(40)]
    forms = [{"password": WRONG, "csrf_token": g.csrf()} for g in guessers]
    start, statuses = threading.Barrier(40), []

    def guess(visitor, form):
        start.wait()
        statuses.append(visitor.post("/admin/login", form=form).status)

    threads = [threading.Thread(target=guess, args=pair) for pair in zip(guessers, forms)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    checked = attack_server.output().count("failed admin login from") - checked_before
    assert checked <= 5 and statuses.count(401) == checked, statuses
    assert statuses.count(429) == 40 - checked
    assert "its next guess waits" in attack_server.output()

    # The admin's own browser is not held up by anyone's guesses...
    assert admins_browser.log_in().status == 302
    # ...and a new browser on the guessers' address waits, then gets in: a delay, not a ban.
    newcomer = Visitor(attack_server.url)
    held = newcomer.log_in()
    assert held.status == 429 and 0 < int(held.headers["retry-after"]) <= 10, held
    time.sleep(int(held.headers["retry-after"]))
    assert newcomer.log_in().status == 302
