"""Every kind of bad input (``tests.hostile``) against every endpoint that takes input.

Each (kind × endpoint) is one test: the request is answered with a 4xx
(never a 5xx, never a hang), with a message a person can act on (JSON
``{"error"}`` under ``/api/``, HTML otherwise, never Werkzeug's stock
sentence), and nothing is stored: the samples and their labels, the training
runs, the model versions, the serving version and its history, and the
visitor's login are the same after as before. A few bounded-read GETs (page
numbers) may instead show a real page (200). For the heavy kinds (bombs,
oversized, chunked and compressed bodies) the process's memory is watched
while the request is answered.

CSRF-protected forms get a valid token (in ``X-CSRFToken``, as htmx sends
it) and a same-origin Referer over https, so what is judged is the input.
"""

import html
import re
import threading
import time
import tracemalloc
from pathlib import Path

import pytest
from sqlalchemy import func, select
from werkzeug import exceptions

from tests import hostile, hostile_kinds, images
from tests.support import PASSWORD, PASSWORD_HASH, app_config, browser, token
from webapp import create_app
from webapp.core import registry
from webapp.core.db import Activation, ModelVersion, Sample, TrainingRun, db
from webapp.reading import corrections
from webapp.teaching import runs, settings as retrain

# A cheap hash: these tests log in hundreds of times; scrypt's cost is tested elsewhere.
MEMORY_LIMIT = 48 * 2**20          # a 12000×12000 decode would take 144 MB (grey) or more
HANG_LIMIT = 60                    # seconds: a request still unanswered by then is a hang
STOCK = {cls.description for cls in vars(exceptions).values()
         if isinstance(cls, type) and issubclass(cls, exceptions.HTTPException)
         and isinstance(cls.description, str)}
CASES = list(hostile_kinds.cases())


@pytest.fixture
def site(model_path, tmp_path):
    """An app with one sample (1, a 7), a second model version (2) and an ended run (1)."""
    app = create_app(app_config(tmp_path / "instance", MODEL=str(model_path),
                                ADMIN_PASSWORD_HASH=PASSWORD_HASH, RATELIMIT_ENABLED=False))
    with app.test_request_context():
        app.config["HOLD_OUT_PERCENT"] = 0
        corrections.add(images.drawing("7"), 7, source="api")
        net, meta = registry.load_version(registry.get(1))
        registry.register(net, meta, {"test_accuracy": 0.5}, "hostile")
        run = runs.start(retrain.FINE_TUNE, enqueue=False)
        runs.finish(run.id, "cancelled")
    return app


def client_for(app, endpoint):
    """A browser-like https client: logged in for the admin, with the session's CSRF token."""
    client = browser(app)
    if endpoint.admin:
        response = client.post("/admin/login", data={"password": PASSWORD,
                                                      "csrf_token": token(client)})
        assert response.status_code == 302
        client.csrf = token(client, "/")       # the session's token; the draw page is cheap
    else:
        client.csrf = token(client, "/admin/login" if endpoint.name == "login" else "/")
    return client


def stored(app, client):
    """Everything a request could have stored, as a comparable value."""
    with app.app_context():
        state = (
            db.session.execute(select(Sample.id, Sample.label).order_by(Sample.id)).all(),
            db.session.execute(select(TrainingRun.id, TrainingRun.status)
                               .order_by(TrainingRun.id)).all(),
            db.session.scalar(select(func.count()).select_from(ModelVersion)),
            registry.serving_id(),
            db.session.scalar(select(func.count()).select_from(Activation)),
        )
    with client.session_transaction() as session:
        return (*state, session.get("admin"))


class MemoryWatch:
    """The largest growth of the process's resident memory (and of traced allocations)."""

    def __init__(self):
        self.rss = self.peak = 0

    @staticmethod
    def resident():
        return int(Path("/proc/self/statm").read_text().split()[1]) * 4096

    def __enter__(self):
        tracemalloc.start()
        self.base, self.running = self.resident(), True
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()
        return self

    def sample(self):
        while self.running:
            self.rss = max(self.rss, self.resident() - self.base)
            time.sleep(0.001)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


def send(client, hostile_request, endpoint):
    """Send it from another thread, so a hang fails the test instead of stopping the suite."""
    headers = {"X-CSRFToken": client.csrf, **hostile_request.headers}
    if endpoint.htmx:
        headers["HX-Request"] = "true"
    options = {**hostile_request.options(), "headers": headers}
    answer = {}
    worker = threading.Thread(target=lambda: answer.update(
        response=client.open(hostile_request.path, **options)), daemon=True)
    worker.start()
    worker.join(HANG_LIMIT)
    assert not worker.is_alive(), f"no answer within {HANG_LIMIT} s"
    return answer["response"]


def message(response, endpoint):
    """What the person is told: the JSON error, else the HTML's text."""
    if endpoint.path.startswith("/api/"):
        assert response.mimetype == "application/json", response.data[:200]
        error = response.get_json()["error"]
        assert isinstance(error, str)
        return error
    assert response.mimetype == "text/html", response.data[:200]
    text = re.sub(r"<(script|style)\b.*?</\1>|<[^>]+>", " ", response.text, flags=re.S)
    return " ".join(html.unescape(text).split())


def shown_problem(response, endpoint):
    """The sentence the page puts where the reader looks for it (alert, error heading, JSON)."""
    if endpoint.path.startswith("/api/"):
        return message(response, endpoint)
    found = re.findall(r'role="alert"[^>]*>(.*?)</p>|<h1>(.*?)</h1>|'
                       r'class="field-error"[^>]*>(.*?)</p>|'
                       r'class="verdict-text">(.*?)</p>', response.text, re.S)
    return " ".join(re.sub(r"<[^>]+>", "", html.unescape(" ".join(parts))).strip()
                    for parts in found).strip()


@pytest.mark.parametrize("kind, endpoint, hostile_request",
                         CASES, ids=[f"{k}-{e.name}" for k, e, _ in CASES])
def test_bad_input_is_refused_with_a_message_and_nothing_is_stored(site, kind, endpoint,
                                                                   hostile_request):
    client = client_for(site, endpoint)
    if hostile_request.heavy:      # load the model and warm the caches before measuring
        client.post("/api/v1/predict", data=images.drawing("1"), content_type="image/png")
    before = stored(site, client)
    if hostile_request.heavy:
        with MemoryWatch() as memory:
            response = send(client, hostile_request, endpoint)
        assert memory.rss < MEMORY_LIMIT and memory.peak < MEMORY_LIMIT, (memory.rss,
                                                                            memory.peak)
    else:
        response = send(client, hostile_request, endpoint)

    assert response.status_code < 500, response.data[:500]
    assert stored(site, client) == before
    if 200 <= response.status_code < 300:
        # Only a read may answer 200 (a page number out of range shows a real page, a
        # download its file).
        assert endpoint.method == "GET" and kind.startswith(("page-", "huge-query",
                                                             "very-long")), response.status_code
        return
    text = message(response, endpoint)
    assert 400 <= response.status_code < 500, (response.status_code, response.location)
    problem = shown_problem(response, endpoint)
    assert len(problem) >= 20, (response.status_code, problem, text[:300])
    assert problem not in STOCK and "Traceback" not in text
    if hostile_request.expect:
        assert re.search(hostile_request.expect, problem, re.I), (response.status_code, problem)


def test_the_corpus_covers_every_endpoint_that_takes_input(site):
    """At least 30 kinds, every input-taking rule of the app, and each endpoint sent ≥ 8 kinds."""
    assert len(hostile_kinds.KINDS) >= 30
    per_endpoint = {}
    for kind, endpoint, _ in CASES:
        per_endpoint.setdefault(endpoint.name, set()).add(kind)
    assert min(len(kinds) for kinds in per_endpoint.values()) >= 8, {
        name: len(kinds) for name, kinds in per_endpoint.items()}
    covered = {(e.method, re.sub(r"\{id\}", "<id>", e.path)) for e in hostile.ENDPOINTS}
    rules = {(method, re.sub(r"<[^>]+>", "<id>", rule.rule))
             for rule in site.url_map.iter_rules()
             for method in rule.methods - {"HEAD", "OPTIONS"}
             if method != "GET" or rule.arguments or rule.endpoint in ("admin.gallery",
                                                                        "admin.dashboard")}
    rules -= {("GET", "/static/<id>"), ("POST", "/admin/logout")}
    rules = {(method, path) for method, path in rules
             if not path.startswith(hostile.NOT_IN_CORPUS_PREFIXES)}
    assert rules <= covered, rules - covered
