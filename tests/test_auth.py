"""Admin access: the password (command, database, environment), login, logout, cookies.

The failed-login throttle is in ``test_throttle.py``, sessions in ``test_sessions.py``.
Requests go to https://localhost like a browser's: the session cookie is Secure, and on
https Flask-WTF also wants a same-origin Referer. CSRF stays on in these apps (``TESTING``
does not turn Flask-WTF off).
"""

import pytest
from werkzeug.security import check_password_hash, generate_password_hash

from tests.support import PASSWORD, browser, log_in, set_password, token
from webapp import create_app
from webapp.admin import auth, sessions
from webapp.core.db import Setting, db

@pytest.fixture
def admin_app(app):
    set_password(app)
    return app


def test_csrf_protection_is_on_in_the_test_apps(app):
    assert app.config["WTF_CSRF_ENABLED"] is True
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_without_a_password_the_login_page_says_how_to_set_one(app):
    client = browser(app)
    page = client.get("/admin/login")
    assert page.status_code == 200
    assert "No admin password is set" in page.text
    assert "digits admin set-password" in page.text
    response = client.post("/admin/login", data={"password": "", "csrf_token": token(client)})
    assert response.status_code == 403


def test_set_password_command_reads_stdin_and_stores_only_a_hash(app, runner):
    result = runner.invoke(args=["admin", "set-password", "--password-stdin"],
                           input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "Admin password set." in result.output
    with app.app_context():
        stored = db.session.get(Setting, auth.PASSWORD_KEY).value
    assert PASSWORD not in stored and stored.startswith("scrypt:")
    assert check_password_hash(stored, PASSWORD)
    client = browser(app)
    assert log_in(client).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_set_password_command_prompts_twice(app, runner):
    result = runner.invoke(args=["admin", "set-password"], input="new password 1\nnew password 1\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("password") >= 2          # asked, then asked to repeat
    assert "new password 1" not in result.output          # never echoed
    assert log_in(browser(app), "new password 1").status_code == 302


def test_set_password_command_refuses_a_mismatch_and_a_short_password(app, runner):
    mismatch = runner.invoke(args=["admin", "set-password"], input="first one\nsecond one\n")
    assert mismatch.exit_code != 0
    assert "do not match" in mismatch.output
    short = runner.invoke(args=["admin", "set-password", "--password-stdin"], input="short\n")
    assert short.exit_code != 0 and "at least 8 characters" in short.output
    with app.app_context():
        assert db.session.get(Setting, auth.PASSWORD_KEY) is None


def test_a_hash_in_the_environment_wins_over_the_stored_password(model_path, tmp_path,
                                                                  monkeypatch):
    """$DIGITS_ADMIN_PASSWORD_HASH, read by create_app like every DIGITS_ setting."""
    monkeypatch.setenv("DIGITS_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("DIGITS_MODEL", str(model_path))
    monkeypatch.setenv("DIGITS_ADMIN_PASSWORD_HASH", generate_password_hash("from the env"))
    app = create_app()
    set_password(app, "stored in the database")
    assert log_in(browser(app), "stored in the database").status_code == 401
    client = browser(app)
    assert log_in(client, "from the env").status_code == 302
    assert client.get("/admin/").status_code == 200
    result = app.test_cli_runner().invoke(args=["admin", "set-password", "--password-stdin"],
                                          input="another password\n")
    assert "DIGITS_ADMIN_PASSWORD_HASH is set and wins" in result.output


def test_login_sets_a_secure_httponly_lax_cookie_and_clears_the_session(admin_app):
    client = browser(admin_app)
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    response = log_in(client)
    assert response.status_code == 302 and response.location == "/admin/"
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session[sessions.KEY]


def test_the_login_page_warns_when_the_secure_cookie_cannot_be_kept(admin_app):
    admin_app.config["TRUSTED_HOSTS"] = None          # the names are the point: answer to any
    client = admin_app.test_client()
    for base, warned in [("http://192.168.1.20:8000", True), ("http://127.0.0.1:8000", False),
                         ("http://localhost", False), ("https://digits.example", False)]:
        page = client.get("/admin/login", base_url=base).text
        assert ('data-testid="cookie-blocked"' in page) is warned, base
    behind_proxy = client.get("/admin/login", base_url="http://10.0.0.5",
                              headers={"X-Forwarded-Proto": "https"}).text
    assert 'data-testid="cookie-blocked"' not in behind_proxy


def test_a_wrong_password_is_refused_with_a_message(admin_app):
    client = browser(admin_app)
    response = log_in(client, "not the password")
    assert response.status_code == 401
    assert "That password is not right." in response.text
    assert client.get("/admin/").status_code == 302


def test_logout_is_a_csrf_protected_post(admin_app):
    client = browser(admin_app)
    log_in(client)
    assert client.get("/admin/logout").status_code == 405
    assert client.post("/admin/logout").status_code == 400            # no token
    assert client.get("/admin/").status_code == 200                   # still logged in
    response = client.post("/admin/logout", data={"csrf_token": token(client, "/admin/")})
    assert response.status_code == 302 and response.location == "/admin/login"
    assert "You are logged out." in client.get("/admin/login").text
    assert client.get("/admin/").status_code == 302


def test_a_new_password_ends_existing_sessions(admin_app):
    client = browser(admin_app)
    log_in(client)
    assert client.get("/admin/").status_code == 200
    set_password(admin_app, "a brand new password")
    assert client.get("/admin/").status_code == 302


def test_login_redirects_only_inside_the_admin(admin_app):
    client = browser(admin_app)
    assert client.get("/admin/models").location.startswith("/admin/login?next=/admin/models")
    for target, expected in [("/admin/models", "/admin/models"),
                             ("https://evil.example/admin", "/admin/"),
                             ("//evil.example/admin", "/admin/"), ("/", "/admin/")]:
        response = client.post("/admin/login", data={"password": PASSWORD, "next": target,
                                                      "csrf_token": token(client)})
        assert response.location == expected
        client.post("/admin/logout", data={"csrf_token": token(client, "/admin/")})


def test_a_cross_site_login_is_refused(admin_app):
    client = browser(admin_app)
    response = log_in(client, **{"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    assert log_in(client, **{"Sec-Fetch-Site": "same-origin"}).status_code == 302
