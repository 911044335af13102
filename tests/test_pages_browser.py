"""Headers on every answer, and every page in Chromium without a CSP violation or console error.

First, over the whole ``url_map`` with the test client: every rule, every
method, anonymous and logged in, as a page and as an htmx partial, plus the
error pages (400, 404, 405, 413, 500), carries the strict Content-Security-Policy
and the other security headers, and every cookie set is Secure, HttpOnly and
SameSite=Lax.

Then a real Chromium visits every page, the admin included: the draw page
(draw, open a hidden unit, correct the reading, Undo, Clear), a unit's own
page, error pages, the login, the dashboard with a finished run, its gallery
(relabel, next page), the run list, the models (promote, roll back) and the
logout, listening for ``securitypolicyviolation`` events and console errors.
"""

import re

import pytest
from playwright.sync_api import expect

import model
from tests.chromium import ANSWERED, WATCH_CSP, draw
from tests.drawings import BASE
from tests.support import (
    CHECK_AS_SHIPPED, PASSWORD, PASSWORD_HASH, app_config, browser, furnished, serving, token)
from webapp import create_app
from webapp.security import CONTENT_SECURITY_POLICY

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
POLICY = ["default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
          "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"]


# -- headers over the whole url_map ----------------------------------------------------------

@pytest.fixture
def site(model_path, tmp_path):
    app = create_app(app_config(tmp_path / "instance", MODEL=str(model_path),
                                ADMIN_PASSWORD_HASH=PASSWORD_HASH, RATELIMIT_ENABLED=False))

    @app.get("/boom")
    def boom():                        # an unexpected error, to see the 500 page's headers
        raise RuntimeError("boom")

    return furnished(app, drawings=3)


def every_request(app):
    """(method, url) for every rule and method of the app, ids filled with real ones."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        url = rule.rule.replace("<path:filename>", "style.css")
        url = re.sub(r"<int:unit>", "3", url)
        url = re.sub(r"<int:version_id>", "2", url)
        url = re.sub(r"<int:\w+>", "1", url)
        for method in sorted(rule.methods - {"OPTIONS"}):
            yield method, url


def assert_protected(response, what):
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, (what, name, response.headers.get(name))
    policy = [p.strip() for p in response.headers["Content-Security-Policy"].split(";")]
    assert all(p in policy for p in POLICY), (what, policy)
    for cookie in response.headers.getlist("Set-Cookie"):
        flags = [f.strip().lower() for f in cookie.split(";")[1:]]
        assert "secure" in flags and "httponly" in flags and "samesite=lax" in flags, (
            what, cookie)


def test_every_answer_carries_the_security_headers_and_cookie_flags(site):
    anonymous = browser(site)
    anonymous.csrf = token(anonymous, "/")
    operator = browser(site)
    operator.post("/admin/login", data={"password": PASSWORD, "csrf_token": token(operator)})
    operator.csrf = token(operator, "/admin/")
    seen = set()
    for client in (anonymous, operator):
        for method, url in every_request(site):
            for headers in ({}, {"HX-Request": "true"}):
                response = client.open(url, method=method,
                                       headers={**headers, "X-CSRFToken": client.csrf},
                                       data={"label": "3", "epochs": "1", "password": "x"})
                assert_protected(response, (method, url, headers))
                seen.add(response.status_code)
    cookies = browser(site)
    for response in (cookies.get("/"), cookies.get("/admin/login")):
        assert_protected(response, response.request.path)
    assert any("session=" in c for c in cookies.get("/").headers.getlist("Set-Cookie")) or \
        cookies.get_cookie("session") is not None
    errors = [
        anonymous.get("/no/such/page"),                                   # 404
        anonymous.put("/predict"),                                        # 405
        anonymous.post("/corrections", data={"label": "7"}),              # 400: no CSRF token
        anonymous.post("/api/v1/predict", data=b"x" * 600_000,           # 413
                       content_type="image/png"),
        anonymous.get("/boom"),                                           # 500
        anonymous.get("/boom", headers={"HX-Request": "true"}),
    ]
    for response in errors:
        assert_protected(response, response.status_code)
    assert [r.status_code for r in errors] == [404, 405, 400, 413, 500, 500]
    assert {200, 302, 400, 401, 404, 405}.issubset(seen | {r.status_code for r in errors})


def test_the_session_cookie_is_secure_httponly_and_lax(site):
    client = browser(site)
    response = client.post("/admin/login", data={"password": PASSWORD,
                                                  "csrf_token": token(client)})
    assert response.status_code == 302
    (cookie,) = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    flags = {f.strip().split("=")[0].lower(): f.strip() for f in cookie.split(";")[1:]}
    assert "secure" in flags and "httponly" in flags and flags["samesite"] == "SameSite=Lax"


# -- every page in Chromium ---------------------------------------------------------------------

@pytest.fixture
def pages_server(tmp_path):
    """The app on a free port, the shipped model, an admin password, data to show, a finished run."""
    app = furnished(create_app(app_config(
        tmp_path / "instance", TESTING=False, MODEL=str(model.PRETRAINED),
        MODEL_CHECK_SECONDS=CHECK_AS_SHIPPED, ADMIN_PASSWORD_HASH=PASSWORD_HASH)))
    with serving(app) as url:
        yield url


class Watched:
    """A page whose console errors, page errors and CSP violations are collected."""

    def __init__(self, page):
        self.page, self.problems = page, []
        page.on("console", lambda m: self.problems.append(f"console: {m.text}")
                if m.type == "error" and not self.expected(m.text) else None)
        page.on("pageerror", lambda e: self.problems.append(f"pageerror: {e}"))
        page.add_init_script(WATCH_CSP)
        self.expected_statuses = set()

    def expected(self, text):
        """Chromium logs a failed load of an error page we asked for; nothing else is allowed."""
        match = re.search(r"status of (\d{3})", text)
        return bool(match) and int(match.group(1)) in self.expected_statuses

    def visit(self, url, status=200):
        self.expected_statuses.add(status)
        response = self.page.goto(url)
        assert response.status == status, (url, response.status)
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        self.check(url)
        return response

    def check(self, where):
        violations = self.page.evaluate("window.cspViolations")
        assert violations == [] and self.problems == [], (where, violations, self.problems)


def test_every_page_in_chromium_without_csp_violations_or_console_errors(browser, pages_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    watched = Watched(context.new_page())
    page = watched.page

    # The draw page: draw, open a hidden unit, correct the reading, Undo, Clear.
    watched.visit(pages_server + "/")
    page.wait_for_function("() => window.htmx && document.querySelector('#reading')")
    draw(page, BASE["7"][1])
    page.wait_for_function(ANSWERED)
    expect(page.get_by_test_id("prediction")).not_to_have_text("")
    strongest = page.locator("[data-testid=hidden-bars] > .is-strong").first
    strongest.click()
    expect(page.locator("#neuron")).to_contain_text("Hidden unit")
    page.get_by_test_id("label-1").click()
    expect(page.get_by_test_id("teach")).to_contain_text("Saved as a 1")
    page.get_by_test_id("undo").click()
    expect(page.locator("#verdict")).to_contain_text("Draw a digit")
    draw(page, BASE["4"][1])
    page.wait_for_function(ANSWERED)
    page.get_by_test_id("clear").click()
    expect(page.locator("#verdict")).to_contain_text("Draw a digit")
    watched.check("draw page")

    # A unit's own page, and error pages.
    watched.visit(pages_server + "/neuron/3")
    expect(page.get_by_role("heading", name="Hidden unit 3")).to_be_visible()
    watched.visit(pages_server + "/no/such/page", status=404)
    watched.visit(pages_server + "/neuron/99999", status=404)
    expect(page.get_by_role("heading", level=1)).to_contain_text("no hidden unit 99999")

    # The admin: login (a wrong password first), the dashboard with a finished run.
    watched.visit(pages_server + "/admin/login")
    page.get_by_label("Password").fill("not the password")
    watched.expected_statuses.add(401)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("login-error")).to_contain_text("not right")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(pages_server + "/admin/")
    expect(page.get_by_test_id("run")).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("confusion")).to_be_visible()
    expect(page.get_by_test_id("loss-chart")).to_be_visible()
    watched.check("dashboard")

    # The gallery: relabel a drawing, the next page and back.
    card = page.locator(".samples > li").first
    card.get_by_label("Label of drawing").select_option("9")
    card.get_by_role("button", name="Relabel").click()
    expect(page.locator(".samples > li").first).to_have_attribute("data-label", "9")
    page.get_by_role("link", name="Older →").click()
    expect(page.locator(".samples > li")).not_to_have_count(24)
    page.get_by_role("link", name="← Newer").click()
    expect(page.locator(".samples > li")).to_have_count(24)

    # The run list opens the run; the models: promote version 2, roll back to 1.
    page.get_by_test_id("run-list").locator("a").first.click()
    expect(page.get_by_test_id("run")).to_have_attribute("data-status", "succeeded")
    row = page.locator('#models tr[data-version="2"]')
    row.get_by_label("force").check()
    row.get_by_role("button", name="Promote").click()
    page.get_by_test_id("confirm-ok").click()                 # the page's own dialog asks
    expect(page.get_by_test_id("models-message")).to_contain_text("Promoted version 2")
    page.get_by_test_id("rollback-1").click()
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("models-message")).to_contain_text("Rolled back to version 1")
    watched.check("dashboard after its actions")

    # Every GET page of the admin on its own, then the draw page from the admin's menu.
    for path in ("/admin/?page=2", "/admin/samples?page=2", "/admin/runs", "/admin/models",
                 "/admin/runs/1"):
        watched.visit(pages_server + path)
    page.get_by_role("link", name="Draw page").click()
    page.wait_for_function("() => window.htmx && document.querySelector('#reading')")
    watched.visit(pages_server + "/admin/")
    page.get_by_test_id("logout").click()
    expect(page).to_have_url(re.compile(r"/admin/login"))
    watched.visit(pages_server + "/admin/", status=200)          # back at the login
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    watched.check("after logging out")

    # The listener does hear a violation: an image from another origin is blocked and reported.
    page.evaluate("""() => document.body.insertAdjacentHTML(
        "beforeend", '<img src="http://192.0.2.1/x.png" alt="">')""")
    page.wait_for_function("() => window.cspViolations.length > 0")
    assert page.evaluate("window.cspViolations")[0].startswith("img-src")
    context.close()
