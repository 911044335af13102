"""Admin sessions on the server (``webapp/admin/sessions.py``): logout and a new password end
them everywhere, a copy of the cookie dies with them (CSRF included), idle and absolute limits.
"""

from datetime import timedelta

import pytest
from werkzeug.security import generate_password_hash

from tests.support import PASSWORD, app_config, browser, log_in, set_password, token
from webapp import create_app
from webapp.admin import auth, sessions
from webapp.core.db import AdminSession, db


@pytest.fixture
def admin_app(app):
    set_password(app)
    return app


def logged_in_browser(app):
    client = browser(app)
    assert log_in(client).status_code == 302
    return client


def copy_of(client, app):
    """Another browser holding a copy of ``client``'s session cookie (a stolen cookie)."""
    thief = browser(app)
    thief.set_cookie("session", client.get_cookie("session").value, domain="localhost")
    return thief


def rows(app):
    with app.app_context():
        found = db.session.scalars(db.select(AdminSession)).all()
        db.session.expunge_all()          # read as they are now, kept after the commit
        db.session.commit()
        return found


def test_a_cookie_copied_before_logout_is_logged_out(admin_app):
    admin = logged_in_browser(admin_app)
    thief = copy_of(admin, admin_app)
    assert thief.get("/admin/").status_code == 200              # a copy works while it lives
    admin.post("/admin/logout", data={"csrf_token": token(admin, "/admin/")})
    page = thief.get("/admin/")
    assert page.status_code == 302 and page.location.startswith("/admin/login")
    assert copy_of(admin, admin_app).get("/admin/runs",
                                         headers={"HX-Request": "true"}).status_code == 401


def test_a_state_change_with_a_copied_cookie_and_its_token_fails_csrf_after_logout(admin_app):
    admin = logged_in_browser(admin_app)
    csrf = token(admin, "/admin/")
    cookie = admin.get_cookie("session").value
    admin.post("/admin/logout", data={"csrf_token": csrf})
    thief = browser(admin_app)
    thief.set_cookie("session", cookie, domain="localhost")
    response = thief.post("/admin/runs/999/cancel", data={"csrf_token": csrf})
    assert response.status_code == 400
    assert "not sent from a page of this site" in response.text      # the CSRF refusal
    assert rows(admin_app) == []


def test_a_new_password_ends_every_session(admin_app):
    first, second = logged_in_browser(admin_app), logged_in_browser(admin_app)
    assert len(rows(admin_app)) == 2
    set_password(admin_app, "a brand new password")
    assert rows(admin_app) == []
    for client in (first, second):
        assert client.get("/admin/").status_code == 302


def test_a_new_hash_in_the_environment_ends_sessions_too(model_path, tmp_path):
    config = app_config(tmp_path / "instance", MODEL=str(model_path),
                        ADMIN_PASSWORD_HASH=generate_password_hash(PASSWORD, "pbkdf2:sha256:1"))
    admin = logged_in_browser(create_app(config))
    restarted = create_app({**config, "ADMIN_PASSWORD_HASH": generate_password_hash(
        "another one", "pbkdf2:sha256:1")})
    admin.application = restarted
    assert admin.get("/admin/").status_code == 302


def age(app, **deltas):
    with app.app_context():
        for row in db.session.scalars(db.select(AdminSession)):
            for column, delta in deltas.items():
                setattr(row, column, getattr(row, column) - delta)
        db.session.commit()


def test_a_session_idle_past_its_limit_ends(admin_app):
    idle = admin_app.config["ADMIN_SESSION_IDLE_SECONDS"]
    admin = logged_in_browser(admin_app)
    age(admin_app, last_seen=timedelta(seconds=idle - 30))
    assert admin.get("/admin/").status_code == 200               # not yet
    age(admin_app, last_seen=timedelta(seconds=idle))
    assert admin.get("/admin/").status_code == 302
    assert rows(admin_app) == []


def test_a_busy_session_still_ends_at_its_absolute_limit(admin_app):
    absolute = admin_app.config["ADMIN_SESSION_MAX_SECONDS"]
    admin = logged_in_browser(admin_app)
    age(admin_app, created=timedelta(seconds=absolute - 60))
    assert admin.get("/admin/").status_code == 200
    age(admin_app, created=timedelta(seconds=61))
    assert admin.get("/admin/").status_code == 302


def test_use_keeps_a_session_alive_with_one_write_a_minute(admin_app):
    admin = logged_in_browser(admin_app)
    before = rows(admin_app)[0].last_seen
    admin.get("/admin/")
    assert rows(admin_app)[0].last_seen == before                # within TOUCH_SECONDS: no write
    age(admin_app, last_seen=timedelta(seconds=sessions.TOUCH_SECONDS + 1))
    aged = rows(admin_app)[0].last_seen
    admin.get("/admin/")
    assert rows(admin_app)[0].last_seen > aged


def test_the_database_holds_only_a_digest_of_the_token(admin_app):
    admin = logged_in_browser(admin_app)
    with admin.session_transaction() as session:
        cookie_token = session[sessions.KEY]
    [row] = rows(admin_app)
    assert row.id == sessions.digest(cookie_token) and cookie_token not in row.id
    assert row.client == "127.0.0.1"


def test_a_signed_cookie_without_a_session_row_is_not_logged_in(admin_app):
    """What main accepted: a cookie saying only "admin" (with the password's fingerprint)."""
    client = browser(admin_app)
    with admin_app.app_context():
        fingerprint = auth.fingerprint(auth.password_hash())
    with client.session_transaction() as session:
        session["admin"] = fingerprint
        session[sessions.KEY] = "made up"
    assert client.get("/admin/").status_code == 302
