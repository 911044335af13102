"""The failed-login throttle (``webapp/admin/throttle.py``): waits that grow per address, a
global budget, shared by every process, and never a lockout of the admin's own browser.
"""

import logging
import threading
from datetime import timedelta

import pytest

from tests.support import PASSWORD, app_config, browser, log_in, set_password, token
from webapp import create_app
from webapp.admin import auth, throttle
from webapp.core.db import LoginFailure, db

WRONG = "not the password"


@pytest.fixture
def admin_app(app):
    set_password(app)
    return app


def failures(app, client="127.0.0.1"):
    with app.app_context():
        row = db.session.get(LoginFailure, client)
        db.session.commit()
        return row.failures if row else 0


def from_address(app, address):
    client = browser(app)
    client.environ_base["REMOTE_ADDR"] = address
    return client


def trusted(app):
    """A browser the admin logged in with (and out of) before: it keeps the trusted cookie."""
    client = browser(app)
    assert log_in(client).status_code == 302
    assert client.get_cookie(throttle.BROWSER_COOKIE, path="/admin") is not None
    client.post("/admin/logout", data={"csrf_token": token(client, "/admin/")})
    return client


def age(app, seconds, client="127.0.0.1", column="last"):
    with app.app_context():
        row = db.session.get(LoginFailure, client)
        setattr(row, column, getattr(row, column) - timedelta(seconds=seconds))
        db.session.commit()


def test_failed_logins_are_throttled_across_processes_sharing_the_database(model_path, tmp_path):
    """Two app instances (as two gunicorn workers) on one SQLite database share the count."""
    config = app_config(tmp_path / "shared", MODEL=str(model_path))
    assert_shared_throttle(create_app(config), create_app(config))


def test_failed_logins_are_throttled_across_hosts_on_postgresql(model_path, tmp_path,
                                                               database_url):
    """Two hosts (instance folders of their own) on one PostgreSQL database share it too."""
    first, second = (create_app(app_config(tmp_path / name, MODEL=str(model_path),
                                           DATABASE_URL=database_url))
                     for name in ("host1", "host2"))
    assert_shared_throttle(first, second)


def assert_shared_throttle(first, second):
    set_password(first)
    admins_browser = trusted(first)
    clients = [browser(first), browser(second)]
    for attempt in range(5):
        assert log_in(clients[attempt % 2], WRONG).status_code == 401
    assert failures(second) == 5
    refused = log_in(clients[1], WRONG)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "10"
    assert "Too many failed logins: try again in 10 seconds." in refused.text
    assert log_in(clients[0]).status_code == 429        # a new browser waits like the guesser
    assert failures(first) == 5                          # refused before counting or hashing
    admins_browser.application = second
    assert log_in(admins_browser).status_code == 302     # the admin's own browser: never


def test_forty_parallel_guesses_get_at_most_five_password_checks(admin_app, monkeypatch):
    checks = []
    real_check = auth.check_password_hash

    def counted(hashed, password):
        checks.append(password)
        return real_check(hashed, password)

    monkeypatch.setattr(auth, "check_password_hash", counted)
    clients = [browser(admin_app) for _ in range(40)]
    tokens = [token(client) for client in clients]
    start = threading.Barrier(40)
    statuses = []

    def guess(client, csrf):
        start.wait()
        statuses.append(client.post("/admin/login", data={"password": WRONG,
                                                          "csrf_token": csrf}).status_code)

    threads = [threading.Thread(target=guess, args=pair) for pair in zip(clients, tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(checks) <= 5
    assert sorted(statuses) == [401] * len(checks) + [429] * (40 - len(checks))


def test_each_wait_doubles_up_to_the_maximum(admin_app, caplog):
    admin_app.config["LOGIN_DELAY_MAX_SECONDS"] = 60
    client = browser(admin_app)
    waits = []
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            log_in(client, WRONG)
        for _ in range(4):
            refused = log_in(client, WRONG)
            assert refused.status_code == 429
            waits.append(int(refused.headers["Retry-After"]))
            age(admin_app, waits[-1])                      # wait it out
            assert log_in(client, WRONG).status_code == 401
    # Each as announced, less the moments between counting a guess and the next one.
    assert all(expected - 3 < wait <= expected for wait, expected in zip(waits, [10, 20, 40, 60]))
    assert len(waits) == 4
    logged = [r.getMessage() for r in caplog.records if "its next guess waits" in r.getMessage()]
    assert logged == [f"admin login: {n} guesses from 127.0.0.1; its next guess waits {w} s"
                      for n, w in [(5, 10), (6, 20), (7, 40), (8, 60), (9, 60)]]


def test_the_right_password_works_once_the_wait_is_over_and_forgets_the_count(admin_app):
    client = browser(admin_app)
    for _ in range(5):
        log_in(client, WRONG)
    assert log_in(client).status_code == 429
    age(admin_app, 10)
    assert log_in(client).status_code == 302
    assert failures(admin_app) == 0


def test_a_quiet_window_forgets_the_count(admin_app):
    client = browser(admin_app)
    for _ in range(6):
        log_in(client, WRONG)
    age(admin_app, admin_app.config["LOGIN_FAILURE_WINDOW"])
    assert log_in(client, WRONG).status_code == 401
    assert failures(admin_app) == 1


def test_the_global_budget_holds_many_addresses_but_not_the_admins_browser(admin_app, caplog):
    admin_app.config["LOGIN_GLOBAL_LIMIT"] = 3
    admins_browser = trusted(admin_app)
    for number in range(3):
        assert log_in(from_address(admin_app, f"203.0.113.{number}"), WRONG).status_code == 401
    with caplog.at_level(logging.WARNING):
        refused = log_in(from_address(admin_app, "198.51.100.7"), PASSWORD)
    assert refused.status_code == 429 and "on this site just now" in refused.text
    assert int(refused.headers["Retry-After"]) > 800
    assert any("only trusted browsers may try" in r.getMessage() for r in caplog.records)
    assert log_in(admins_browser).status_code == 302


def test_a_forged_trusted_browser_cookie_counts_as_none(admin_app):
    client = browser(admin_app)
    client.set_cookie(throttle.BROWSER_COOKIE, "made-up.value.sig", domain="localhost",
                      path="/admin")
    for _ in range(5):
        log_in(client, WRONG)
    assert failures(admin_app) == 5 and log_in(client).status_code == 429


def test_a_trusted_browser_that_guesses_is_throttled_on_its_own(admin_app):
    client = trusted(admin_app)
    for _ in range(5):
        assert log_in(client, WRONG).status_code == 401
    assert log_in(client).status_code == 429
    assert failures(admin_app) == 0                      # its address was never counted


@pytest.mark.parametrize("address, key", [
    ("203.0.113.9", "203.0.113.9"), ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("::ffff:203.0.113.9", "203.0.113.9"),
])
def test_an_ipv6_client_is_counted_by_its_64(app, address, key):
    with app.test_request_context(environ_base={"REMOTE_ADDR": address}):
        assert throttle.address_key() == key
