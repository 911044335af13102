"""A real ``digits serve`` on a free port, and clients that talk to it as an attacker would.

``digits_serve`` starts the server as deployed (gunicorn, ``--workers 2``, its training
worker, SQLite in a fresh instance folder it makes itself) and sets the admin password
with ``digits admin set-password``; ``Visitor`` is a client over ``http.client`` with
its own cookie jar; ``raw_http`` sends bytes exactly as given (for headers no client
library would send). The attack tests (``tests/test_attack*.py``) use these through
conftest's ``attack_server`` fixture.
"""

import http.client
import json
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
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from tests.support import ROOT, free_port


ATTACK_PASSWORD = "attack surface 2026"     # set with `digits admin set-password`, so scrypt


def serve_env(instance, model_path, **settings):
    """``digits serve``'s environment: this instance folder and model, defaults otherwise
    (nothing from the surrounding shell's DIGITS_*, database or Redis); ``settings`` add
    ``$DIGITS_<NAME>``s."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("DIGITS_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"DIGITS_INSTANCE_PATH": str(instance), "DIGITS_MODEL": str(model_path),
                "PYTHONPATH": str(ROOT)})
    env.update({f"DIGITS_{k}": str(v) for k, v in settings.items()})
    return env


def children(pid):
    """The pids of ``pid``'s child processes (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


class Served:
    """A running ``digits serve``: ``url``, ``port``, ``process`` (its session leader),
    ``instance`` (its folder), ``env`` (to run other ``digits`` commands on it), ``log``."""

    def __init__(self, process, port, instance, env, log):
        self.process, self.port, self.instance, self.env, self.log = (
            process, port, Path(instance), env, Path(log))
        self.url = f"http://127.0.0.1:{port}"

    def output(self):
        return self.log.read_text(errors="replace")

    def digits(self, *args, input=None, timeout=120):
        """Run another ``digits`` command on this server's instance; its CompletedProcess."""
        return subprocess.run([Path(sys.executable).with_name("digits"), *args], env=self.env,
                              input=input, capture_output=True, text=True, timeout=timeout)

    def children(self):
        """The pids of the serve process's children (gunicorn's workers, the trainer)."""
        return children(self.process.pid)

    def command_line(self, pid):
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return ""


@contextmanager
def digits_serve(instance, model_path, *args, workers=2, password=ATTACK_PASSWORD, **settings):
    """``digits serve --workers 2 *args`` on a free loopback port with the instance folder
    ``instance`` (made by the server itself), its admin password set with ``digits admin
    set-password`` once /healthz answers; yields a ``Served``. Killed (its whole session)
    afterwards. The log is ``instance``'s sibling ``serve.log``."""
    port = free_port()
    env = serve_env(instance, model_path, **settings)
    log = Path(instance).with_name(Path(instance).name + "-serve.log")
    with open(log, "wb") as out:
        process = subprocess.Popen([Path(sys.executable).with_name("digits"), "serve",
                                    "--port", str(port), "--workers", str(workers), *args],
                                   env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    served = Served(process, port, instance, env, log)
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(served.url + "/healthz", timeout=5):
                break
        except urllib.error.HTTPError:       # 503: up, something not ready; still up
            break
        except (urllib.error.URLError, ConnectionError, OSError):
            if process.poll() is not None or time.monotonic() > deadline:
                for pid in served.children():
                    os.kill(pid, signal.SIGKILL)
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                pytest.fail("digits serve did not start:\n" + served.output())
            time.sleep(0.2)
    try:
        if password:
            done = served.digits("admin", "set-password", "--password-stdin",
                                 input=password + "\n")
            assert done.returncode == 0, done.stdout + done.stderr
        yield served
    finally:
        # The training worker runs in a session of its own: kill it by pid, then the rest.
        for pid in served.children():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class Answer:
    """An HTTP answer: ``status``, ``headers`` (lower-case names; repeated ones joined by
    a newline), ``text``."""

    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body
        self.text = body.decode("utf-8", "replace")

    @property
    def location(self):
        return self.headers.get("location")

    def __repr__(self):
        return f"<Answer {self.status} {self.headers} {self.text[:300]!r}>"


class Visitor:
    """One client of a real server over http.client: its own cookies (kept whatever their
    Secure flag, as a browser does on localhost), no redirects followed. ``cookies`` may be
    copied into another Visitor: that is what a stolen cookie is."""

    def __init__(self, url):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.cookies = {}

    def request(self, method, path, form=None, headers=None, body=None, timeout=60):
        headers = {"Host": f"{self.host}:{self.port}", **(headers or {})}
        if form is not None:
            body = urlencode(form).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            found = {}
            for name, value in response.getheaders():
                name = name.lower()
                found[name] = f"{found[name]}\n{value}" if name in found else value
                if name == "set-cookie":
                    for morsel in SimpleCookie(value).values():
                        gone = morsel["max-age"] == "0" or (
                            morsel["expires"] and "1970" in morsel["expires"])
                        if gone or not morsel.value:
                            self.cookies.pop(morsel.key, None)
                        else:
                            self.cookies[morsel.key] = morsel.value
            return Answer(response.status, found, data)
        finally:
            connection.close()

    def get(self, path, **options):
        return self.request("GET", path, **options)

    def post(self, path, form=None, **options):
        return self.request("POST", path, form=form, **options)

    def csrf(self, path="/admin/login"):
        """The CSRF token a page hands htmx (``<body hx-headers=...>``)."""
        page = self.get(path).text
        found = re.search(r"hx-headers='([^']*)'", page)
        assert found, page[:500]
        return json.loads(found.group(1))["X-CSRFToken"]

    def log_in(self, password=ATTACK_PASSWORD, next=None, **headers):
        form = {"password": password, "csrf_token": self.csrf()}
        if next is not None:
            form["next"] = next
        return self.post("/admin/login", form=form, headers=headers)


def raw_http(port, request, timeout=30):
    """Send ``request`` (bytes, as is) to 127.0.0.1:``port``; the whole answer, as bytes
    (the request should say ``Connection: close``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer
