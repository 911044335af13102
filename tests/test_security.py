"""The shared defences (``webapp/security.py``): the Host names answered, HSTS, text made safe
to log, a ``next=`` that cannot break the redirect, and private files from the start.

The same findings are replayed against a real ``digits serve`` in ``tests/test_attack.py``;
these tests pin each rule down where it is made.
"""

import logging
import os
import stat

import pytest

from tests import images
from tests.support import PASSWORD, app_config, browser, log_in, set_password, token
from webapp import create_app, security


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# -- Host names --------------------------------------------------------------------------------

def test_a_foreign_host_name_is_a_plain_400_that_points_nowhere(client):
    for path in ("/admin", "/", "/api/v1/predict", "/nowhere"):
        response = client.get(path, headers={"Host": "evil.example"})
        assert response.status_code == 400, path
        assert "Location" not in response.headers
        assert "evil.example" not in response.text
        assert "DIGITS_TRUSTED_HOSTS" in response.text
    assert client.get("/admin", headers={"Host": "127.0.0.1:8000"}).location == \
        "http://127.0.0.1:8000/admin/"


@pytest.mark.parametrize("setting, host, allowed, refused", [
    (None, "127.0.0.1", ["localhost", "127.0.0.1:9000"], ["evil.example", "digits.example"]),
    (None, "digits.example", ["digits.example", "localhost"], ["evil.example"]),
    ("digits.example, .school.example", "127.0.0.1", ["digits.example", "a.school.example"],
     ["localhost", "evil.example"]),
    ("*", "127.0.0.1", ["evil.example", "anything"], []),
])
def test_trusted_hosts_are_configurable(model_path, tmp_path, setting, host, allowed, refused):
    app = create_app(app_config(tmp_path / "instance", MODEL=str(model_path),
                                TRUSTED_HOSTS=setting, HOST=host))
    client = app.test_client()
    for name in allowed:
        assert client.get("/healthz", headers={"Host": name}).status_code == 200, name
    for name in refused:
        assert client.get("/healthz", headers={"Host": name}).status_code == 400, name


def test_serving_every_address_trusts_this_machines_names(monkeypatch):
    monkeypatch.setattr(security, "this_machine_names", lambda: ["classroom-pc", "192.168.1.20"])
    assert security.trusted_hosts(None, "0.0.0.0") == ["localhost", "127.0.0.1", "classroom-pc",
                                                      "192.168.1.20"]
    assert security.this_machine_names()      # the real ones: at least the host name


def test_digits_serve_trusts_the_address_it_serves_unless_the_names_are_set(
        model_path, tmp_path, monkeypatch):
    from webapp.ops.server import Server

    monkeypatch.setenv("DIGITS_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("DIGITS_MODEL", str(model_path))
    monkeypatch.setenv("DIGITS_SECRET_KEY", "test")
    served = Server({"bind": "192.168.1.20:8000"}, host="192.168.1.20").load()
    assert served.config["TRUSTED_HOSTS"] == ["localhost", "127.0.0.1", "192.168.1.20"]
    monkeypatch.setenv("DIGITS_TRUSTED_HOSTS", "digits.example")
    named = Server({"bind": "192.168.1.20:8000"}, host="192.168.1.20").load()
    assert named.config["TRUSTED_HOSTS"] == ["digits.example"]


# -- HSTS ---------------------------------------------------------------------------------------

def test_hsts_is_sent_on_https_only(client):
    assert client.get("/", base_url="https://localhost").headers[
        "Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in client.get("/").headers


def test_the_readings_fast_path_keeps_both_rules(app, client):
    """POST /api/v1/predict is answered in front of Flask when the fast path is on: the same
    two rules hold there (and through Flask when it is off)."""
    png = images.drawing("7")
    secure = client.post("/api/v1/predict", data=png, content_type="image/png",
                         base_url="https://localhost")
    assert secure.status_code == 200
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    foreign = client.post("/api/v1/predict", data=png, content_type="image/png",
                          headers={"Host": "evil.example"})
    assert foreign.status_code == 400 and "DIGITS_TRUSTED_HOSTS" in foreign.text


# -- the log ------------------------------------------------------------------------------------

def test_control_characters_in_a_path_are_escaped_in_the_request_log(client, caplog):
    with caplog.at_level(logging.INFO, logger="digits.requests"):
        client.get("/nothing%0A[2026-12-02 10:00:00,000] POST /admin/login 302 1.0 ms%1b[2J")
    lines = [r.getMessage() for r in caplog.records if r.name == "digits.requests"]
    assert len(lines) == 1 and "\n" not in lines[0] and "\x1b" not in lines[0]
    assert lines[0].startswith("GET /nothing\\n[2026-12-02") and "\\x1b[2J 404" in lines[0]


@pytest.mark.parametrize("text, logged", [
    ("/plain/path", "/plain/path"), ("a\r\nb", "a\\r\\nb"), ("tab\there", "tab\\there"),
    ("line\u2028sep", "line\\u2028sep"), ("back\\slash", "back\\\\slash"),
    ("résumé", "résumé"),
])
def test_printable(text, logged):
    assert security.printable(text) == logged


# -- next= after a login ------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["/admin/\r\nSet-Cookie: planted=1", "/admin/\nx",
                                    "/admin/\x00", "/admin\\..\\evil.example", "/admin/€"])
def test_a_next_that_a_location_cannot_carry_goes_to_the_dashboard(app, target):
    set_password(app)
    client = browser(app)
    response = client.post("/admin/login", data={"password": PASSWORD, "next": target,
                                                  "csrf_token": token(client)})
    assert response.status_code == 302 and response.location == "/admin/"
    assert "planted" not in response.headers.get("Set-Cookie", "")
    logged_in_again = client.get("/admin/login", query_string={"next": target})
    assert logged_in_again.status_code == 302 and logged_in_again.location == "/admin/"


def test_a_next_inside_the_admin_is_kept(app):
    set_password(app)
    client = browser(app)
    response = client.post("/admin/login", data={"password": PASSWORD, "next": "/admin/models?x=1",
                                                  "csrf_token": token(client)})
    assert response.location == "/admin/models?x=1"


# -- private files ------------------------------------------------------------------------------

@pytest.fixture
def permissive_umask():
    """umask 0: nothing may rely on the umask to keep a file private."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_the_instance_folder_and_its_files_are_private_from_the_start(
        model_path, tmp_path, monkeypatch, permissive_umask):
    instance = tmp_path / "instance"
    linked = {}
    real_link = os.link

    def link(source, target):          # the moment the secret key is published
        linked[os.path.basename(target)] = mode(source)
        return real_link(source, target)

    monkeypatch.setattr(security.os, "link", link)
    config = app_config(instance, MODEL=str(model_path))
    del config["SECRET_KEY"]                      # made into instance/secret_key
    app = create_app(config)
    set_password(app)                             # a write: SQLite's -wal and -shm exist now
    assert linked == {"secret_key": 0o600}
    assert mode(instance) == 0o700
    files = {p.name: mode(p) for p in instance.iterdir()}
    assert {"digits.sqlite", "digits.sqlite-wal", "digits.sqlite-shm", "huey.sqlite",
            "secret_key", "schema.lock"} <= set(files)
    assert set(files.values()) == {0o600}, files


def test_an_instance_folder_left_open_by_an_older_version_is_closed(model_path, tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    instance.chmod(0o755)
    create_app(app_config(instance, MODEL=str(model_path)))
    assert mode(instance) == 0o700


def test_create_private_never_loosens_or_truncates_an_existing_file(tmp_path):
    path = tmp_path / "kept"
    path.write_text("data")
    path.chmod(0o640)
    security.create_private(path)
    assert path.read_text() == "data" and mode(path) == 0o640


def test_a_logged_in_admin_sees_why_a_check_failed(app, tmp_path):
    """Anonymous /healthz names the part that is down; the admin's also says why."""
    set_password(app)
    admin = browser(app)
    assert log_in(admin).status_code == 302
    app.extensions["digits_queue"].huey.storage.close()
    queue = tmp_path / "instance" / "huey.sqlite"
    queue.rename(tmp_path / "elsewhere-huey.sqlite")
    queue.mkdir()
    anonymous = app.test_client().get("/healthz").get_json()["queue"]["error"]
    assert "OperationalError" not in anonymous
    assert "OperationalError" in admin.get("/healthz").get_json()["queue"]["error"]
