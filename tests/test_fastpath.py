"""The reading's fast path (webapp/reading/fastpath.py): on for the shipped app, and every
answer it gives is Flask's own answer, byte for byte and header for header."""

import io
import logging
import re

import pytest

from tests import images
from tests.support import app_config
from webapp import create_app
from webapp.reading import api, fastpath

URL = "/api/v1/predict"


def both(app, client, *args, **kwargs):
    """The same request answered by the fast path and by Flask alone."""
    path = app.wsgi_app
    assert path.on
    if "http" not in path.learnt:         # Flask answers first; the fast path learns its headers
        client.post(URL, data=images.drawing("1"), content_type="image/png")
    answered = path.answered
    fast = client.post(*args, **kwargs)
    fast.by_fast_path = path.answered > answered
    missing, app.wsgi_app.missing = app.wsgi_app.missing, ["off for the comparison"]
    try:
        slow = client.post(*args, **kwargs)
    finally:
        app.wsgi_app.missing = missing
    return fast, slow


def test_the_fast_path_is_on_and_answers_the_api(app):
    assert isinstance(app.wsgi_app, fastpath.FastPath)
    assert app.wsgi_app.on, app.wsgi_app.missing


@pytest.mark.parametrize("headers", [{}, {"Accept-Encoding": "gzip"},
                                     {"Accept-Encoding": "zstd, gzip, br"},
                                     {"Accept-Encoding": "identity"}])
@pytest.mark.parametrize("name", ["7", "4", "blank"])
def test_same_bytes_and_headers_as_flask(app, client, headers, name):
    png = images.blank() if name == "blank" else images.drawing(name)
    fast, slow = both(app, client, URL, data=png, content_type="image/png", headers=headers)
    assert fast.status_code == slow.status_code == 200 and fast.by_fast_path
    assert without_time(fast) == without_time(slow)
    assert list(fast.headers.items()) == list(slow.headers.items())


def without_time(response):
    """The body, less gzip's time stamp (bytes 4-7: the second it was compressed in)."""
    data = response.data
    return data[:4] + data[8:] if response.headers.get("Content-Encoding") == "gzip" else data


@pytest.mark.parametrize("body, content_type, status", [
    (b"not an image", "image/png", 400),
    (b"GIF89a" + bytes(40), "image/png", 415),
    (b"", "image/png", 400),
    (images.header_only_png(20000, 20000), "image/png", 400),
    (images.drawing("7"), "text/plain", 415),
])
def test_errors_are_flasks_own(app, client, body, content_type, status):
    fast, slow = both(app, client, URL, data=body, content_type=content_type)
    assert fast.status_code == slow.status_code == status and not fast.by_fast_path
    assert fast.data == slow.data and fast.json["error"]
    assert list(fast.headers.items()) == list(slow.headers.items())


def test_forms_multipart_and_too_large_bodies_go_to_flask(app, client):
    png = images.drawing("3")
    fast = client.post(URL, data={"image": (io.BytesIO(png), "3.png")})
    raw = client.post(URL, data=png, content_type="image/png")
    assert fast.status_code == 200 and fast.data == raw.data
    huge = b"\x89PNG\r\n\x1a\n" + b"\0" * app.config["MAX_CONTENT_LENGTH"]
    fast, slow = both(app, client, URL, data=huge, content_type="image/png")
    assert fast.status_code == slow.status_code == 413 and fast.data == slow.data
    assert client.get(URL).status_code == 405
    client.set_cookie("session", "not a session")
    fast, slow = both(app, client, URL, data=png, content_type="image/png")
    assert not fast.by_fast_path and fast.data == slow.data
    assert list(fast.headers.items()) == list(slow.headers.items())


def test_the_request_log_gets_its_line(app, client, caplog):
    with caplog.at_level(logging.INFO, logger="digits.requests"):
        client.post(URL, data=images.drawing("7"), content_type="image/png")
    lines = [r.getMessage() for r in caplog.records if r.name == "digits.requests"]
    assert len(lines) == 1 and re.fullmatch(r"POST /api/v1/predict 200 \d+\.\d ms", lines[0])


def test_an_unknown_hook_or_decorator_turns_it_off(model_path, tmp_path):
    # (tests/test_served.py: the fast path's answers follow a promotion, too)
    app = create_app(app_config(tmp_path / "other", MODEL=str(model_path)))
    assert app.wsgi_app.on
    app.before_request_funcs.setdefault("api", []).append(lambda: None)
    assert fastpath.unknown(app) == ["hook test_an_unknown_hook_or_decorator_turns_it_off."
                                     "<locals>.<lambda>"]
    app.view_functions["api.predict"] = lambda: None
    assert "api.predict is decorated differently" in fastpath.unknown(app)
    assert api.predict.__code__ is fastpath.BUDGETED
    assert api.predict.__wrapped__.__code__ is fastpath.TAKES_TURNS


def test_budget_and_cross_site_refusals_are_flasks(app, client):
    png = images.drawing("7")
    fast, slow = both(app, client, URL, data=png, content_type="image/png",
                      headers={"Origin": "https://elsewhere.example", "Sec-Fetch-Site": "cross-site"})
    assert fast.status_code == slow.status_code == 403 and not fast.by_fast_path
    assert fast.data == slow.data
    app.config.update(PREDICT_RATE_LIMIT=1, PREDICT_BURST=1, RATELIMIT_ENABLED=True)
    statuses = [client.post(URL, data=png, content_type="image/png") for _ in range(3)]
    assert [r.status_code for r in statuses][-1] == 429 and statuses[-1].json["error"]
    assert statuses[-1].headers.get("Retry-After")
