"""Helpers the test modules share (fixtures are in ``conftest.py``, which uses these too).

No test module imports another: what two of them need lives here, once. Image
bytes are made in ``tests/images.py``, browser steps in ``tests/chromium.py``.
"""

import base64
import hashlib
import json
import multiprocessing
import os
import re
import socket
import sqlite3
import threading
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from werkzeug.security import generate_password_hash
from werkzeug.serving import WSGIRequestHandler, make_server

import model
from sqlalchemy import select
from tests import images
from webapp.admin import auth
from webapp.config import Config
from webapp.core import registry
from webapp.core.db import ModelVersion, db
from webapp.reading import corrections
from webapp.teaching import runs
from webapp.teaching.settings import FINE_TUNE

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = os.environ.get("DIGITS_DATA_DIR")
needs_data = pytest.mark.skipif(
    not DATA_DIR or not Path(DATA_DIR, "t10k-images-idx3-ubyte.gz").exists(),
    reason="full MNIST not present: set DIGITS_DATA_DIR to the directory of the four idx .gz files")

HTTPS = "https://localhost"        # the session cookie is Secure: the client sends it on https
HX = {"HX-Request": "true"}        # what htmx adds to each of its requests
HX_FROM_PAGE = {**HX, "Referer": HTTPS + "/"}   # on https, Flask-WTF checks the referrer
PASSWORD = "correct horse battery"
# A cheap hash of PASSWORD, for the many apps built with ADMIN_PASSWORD_HASH.
PASSWORD_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1")
# How often a web process looks for a new model version as shipped (app_config's is 0: always).
CHECK_AS_SHIPPED = Config.setting("MODEL_CHECK_SECONDS").default
# A one-epoch retrain on MNIST alone: the shortest run that goes through every step.
SHORT = replace(FINE_TUNE, epochs=1, augment=False, include_samples=False)


# -- apps and their models --------------------------------------------------------------------

def save_network(path, sizes=(784, 16, 10), seed=1, output_bias=None, zero_weights=False):
    """Write a small network to ``path``; zero weights and ``output_bias`` (10,) fix its answer."""
    net = model.Network(list(sizes), seed=seed)
    if zero_weights:
        net.weights = [np.zeros_like(w) for w in net.weights]
    if output_bias is not None:
        net.biases[-1] = np.asarray(output_bias, dtype=net.dtype)
    model.save(path, net)
    return path


def app_config(instance, **settings):
    """An app's settings for tests: its own instance folder (database, queue) in ``instance``."""
    # Tests read hundreds of drawings from one address: the readings' budget is off unless
    # a test turns it on (tests/test_reading_cost.py).
    return {"TESTING": True, "SECRET_KEY": "test", "INSTANCE_PATH": str(instance),
            "MODEL_CHECK_SECONDS": 0, "PREDICT_RATE_LIMIT": 0, **settings}


# -- a browser's session: https, the CSRF token, the admin login ------------------------------

def browser(app):
    """A test client that talks to the app the way a browser on https does."""
    client = app.test_client()
    client.environ_base.update({"wsgi.url_scheme": "https", "HTTP_HOST": "localhost",
                                "HTTP_REFERER": HTTPS + "/admin/"})
    return client


def token(client, path="/admin/login", **options):
    """The session's CSRF token, as every page hands it to htmx (``<body hx-headers=...>``)."""
    page = client.get(path, **options).text
    return json.loads(re.search(r"hx-headers='([^']*)'", page).group(1))["X-CSRFToken"]


def page_token(client):
    """The CSRF token the draw page hands htmx."""
    return token(client, "/", base_url=HTTPS)


def log_in(client, password=PASSWORD, **headers):
    return client.post("/admin/login", data={"password": password, "csrf_token": token(client)},
                       headers=headers)


def set_password(app, password=PASSWORD):
    with app.app_context():
        auth.set_password(password)


# -- processes, ports and servers -------------------------------------------------------------

def free_port():
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


@contextmanager
def serving(app):
    """``app`` served in a thread at ``http://127.0.0.1:<free port>`` (the URL is yielded)."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


def start_together(target, arguments, timeout=120):
    """Run ``target(*args, start)`` in one new process per ``args`` in ``arguments``, all let go
    at the same moment (``start`` is an Event each waits on); returns their exit codes."""
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    processes = [context.Process(target=target, args=(*args, start)) for args in arguments]
    for p in processes:
        p.start()
    start.set()
    for p in processes:
        p.join(timeout)
    return [p.exitcode for p in processes]


# -- training runs -----------------------------------------------------------------------------

def worker_env(app, **settings):
    """The environment ``digits worker`` needs to build this test's app: its instance
    folder and MNIST, nothing from the surrounding shell's database or Redis."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("DIGITS_") and k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"DIGITS_INSTANCE_PATH": app.instance_path, "DIGITS_DATA_DIR": DATA_DIR or "",
                "DIGITS_JOB_HEARTBEAT_SECONDS": "0.5", "PYTHONPATH": str(ROOT)})
    env.update({f"DIGITS_{k}": str(v) for k, v in settings.items()})
    return env


def wait_until(check, timeout=180, what="the run"):
    """``wait_for`` with the database read afresh each time (another process writes it)."""
    def fresh():
        db.session.commit()
        db.session.expire_all()
        value = check()
        db.session.commit()
        return value

    return wait_for(fresh, timeout, what)


def wait_for(check, timeout, what):
    """``check()``'s first true value, asked every 0.1 s for at most ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} did not come within {timeout} s")


def simultaneous_starts(app, settings, clicks=4, enqueue=False):
    """``clicks`` threads press Start at the same moment: the run ids started, the refusals."""
    barrier = threading.Barrier(clicks)
    outcomes = []

    def click():
        with app.app_context():
            barrier.wait()
            try:
                outcomes.append(runs.start(settings, enqueue=enqueue).id)
            except runs.RunRefused as exc:
                outcomes.append(str(exc))

    threads = [threading.Thread(target=click) for _ in range(clicks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ([o for o in outcomes if isinstance(o, int)],
            [o for o in outcomes if isinstance(o, str)])


def progress(app, run_id, **values):
    """Write a run's progress as the worker does."""
    with app.app_context():
        runs.write(run_id, only_if=None, **values)


def history(epochs):
    """A run's history of ``epochs`` epochs, as the worker records it."""
    return [{"epoch": e, "loss": 0.2 / e, "val_loss": 0.15 / e, "train_accuracy": 0.97,
             "val_accuracy": 0.98 + e / 1000, "seconds": 2.0} for e in range(1, epochs + 1)]


# -- faults: what must still hold afterwards -----------------------------------------------------

def predict(url, timeout=30):
    """POST a drawn 7 to ``url``'s API; the model version that read it."""
    request = urllib.request.Request(url + "/api/v1/predict", data=images.drawing("7"),
                                     headers={"Content-Type": "image/png",
                                              "Connection": "close"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)["model"]["version"]


def every_version_is_whole(app):
    """Every stored version loads and matches its SHA-256; their numbers."""
    with app.app_context():
        rows = db.session.scalars(select(ModelVersion).order_by(ModelVersion.id)).all()
        for version in rows:
            assert hashlib.sha256(version.weights).hexdigest() == version.sha256
            registry.load_version(version)
        numbers = [v.id for v in rows]
        db.session.commit()
        return numbers


def sqlite_is_intact(app):
    path = Path(app.instance_path) / "digits.sqlite"
    with sqlite3.connect(path) as connection:
        return connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def measured_run(app, data, version_id=1):
    """A succeeded run whose results are measured, as a retrain measures them, on ``data``
    (a dict with ``test_images`` and ``test_labels``) by model ``version_id``; its id."""
    from webapp.core import samples
    from webapp.teaching.retraining import run_results

    with app.app_context():
        net, _ = registry.load_version(registry.get(version_id))
        results = {**run_results(net, data, samples.held_out_set()), "val_accuracy": 0.9,
                   "best_epoch": 1, "start_version": version_id, "trained_samples": 0,
                   "sizes": net.sizes, "settings": {"epochs": 1}, "seconds": 3.0}
        run = runs.start(FINE_TUNE, enqueue=False)
        runs.finish(run.id, "succeeded", version_id=version_id, results=results,
                    phase="done", progress=1.0, history=history(1))
        return run.id

# -- classes ---------------------------------------------------------------------------------------

def start_class(teacher, name="4B", minutes="45", **fields):
    """Start a class as the logged-in ``teacher`` (an ``admin`` client); its join code."""
    response = teacher.post("/admin/classes/", data={
        "name": name, "minutes": minutes, "csrf_token": token(teacher, "/admin/classes/"),
        **fields})
    assert response.status_code == 302, response.text
    return response.location.rstrip("/").rsplit("/", 1)[-1]


def join_class(app, code, nickname=""):
    """A new student's browser that joined class ``code``; ``student.hx`` are htmx's headers."""
    student = browser(app)
    student.environ_base["HTTP_REFERER"] = HTTPS + f"/class/{code}"
    csrf = token(student, f"/class/{code}")
    response = student.post(f"/class/{code}/join", data={"nickname": nickname,
                                                         "csrf_token": csrf})
    assert response.status_code == 302, response.text
    student.hx = {**HX, "X-CSRFToken": csrf}
    return student


def class_draw(student, code, name="7", final=True, seq=1):
    """POST a drawing to the class's reading, as the canvas sends it at pen-up; the answer
    read and closed, as a server closes it once sent (the board's write runs then)."""
    response = student.post(f"/class/{code}/predict", headers=student.hx, data={
        "image": images.data_url(images.drawing(name)), "seq": str(seq),
        "final": "1" if final else "0"})
    response.get_data()
    response.close()
    return response


def class_correct(student, code, label, name="7"):
    return student.post(f"/class/{code}/corrections", headers=student.hx, data={
        "image": images.data_url(images.drawing(name)), "label": str(label)})

# -- a site with something to show (the pages' browser tests) ---------------------------------

def finished_run(app, version_id):
    """A run that ended with results, written as the worker writes them."""
    rng = np.random.default_rng(0)
    history = [{"epoch": e, "loss": 0.2 / e, "val_loss": 0.15 / e, "train_accuracy": 0.97,
                "val_accuracy": 0.98 + e / 1000, "seconds": 2.0} for e in range(1, 3)]
    units = [{"epoch": e, "units": [3, 8], "weights": rng.normal(size=(2, 784)).tolist()}
             for e in range(3)]
    pixels = base64.b64encode(np.zeros(784, np.uint8).tobytes()).decode()
    results = {"test_accuracy": 0.991, "val_accuracy": 0.984, "per_class": [0.99] * 10,
               "confusion": (np.eye(10, dtype=int) * 99 + 1).tolist(),
               "worst": [{"pixels": pixels, "label": 4, "predicted": 9, "confidence": 0.97}],
               "held_out": {"n": 5, "accuracy": 0.8}, "styles": {"crossed_7": 0.95},
               "seconds": 75.0, "settings": {"epochs": 2}}
    with app.app_context():
        run = runs.start(FINE_TUNE, enqueue=False)
        runs.write(run.id, only_if=None, status="succeeded", slot=None, epoch=2, epochs=2,
                   progress=1.0, history=history, units=units, results=results,
                   version_id=version_id, phase="done")
        return run.id


def furnished(app, drawings=30):
    """Samples enough for two gallery pages, a second model version and a finished run."""
    app.config["HOLD_OUT_PERCENT"] = 0
    with app.test_request_context():
        for i in range(drawings):
            name = ("7", "1", "4", "3")[i % 4]
            corrections.add(images.drawing(name), int(name), source="api")
        net, meta = registry.load_version(registry.get(1))
        version = registry.register(net, meta, {"test_accuracy": 0.5, "val_accuracy": 0.5},
                                    "run 1").id
    finished_run(app, version)
    return app


