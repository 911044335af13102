"""The whole loop in Chromium: corrections on the draw page, a retrain watched live, a promotion.

The app runs in a thread on a free port with its own instance folder (SQLite
database, huey queue) and the shipped model; a real ``digits worker`` process,
pointed at the same instance folder and MNIST, consumes the queue. The test
logs in, teaches the network three drawings through the "Did it read your digit
right?" buttons, relabels and deletes one in the dashboard's gallery, starts a
two-epoch retrain without augmentation, watches the progress bar reach the
end, promotes the new version and sees the draw page read with it. It also takes the dashboard's screenshot at 1280×900 (into the
test's temporary folder; with ``DIGITS_UPDATE_SCREENSHOTS=1`` into
``docs/admin.png``, the README's). Nothing sleeps: every wait is for the DOM.
"""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

import model
from tests.chromium import WATCH_CSP, answer, draw
from tests.drawings import BASE
from tests.support import CHECK_AS_SHIPPED, DATA_DIR, app_config, needs_data, serving
from webapp import create_app
from webapp.teaching import worker as training_worker

PASSWORD = "a password for the browser test"
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "admin.png"


@pytest.fixture
def loop_server(tmp_path):
    """The app on a free port plus one ``digits worker`` on the same instance folder."""
    instance = tmp_path / "instance"
    app = create_app(app_config(instance, TESTING=False, MODEL=str(model.PRETRAINED),
                                MODEL_CHECK_SECONDS=CHECK_AS_SHIPPED, DATA_DIR=DATA_DIR,
                                JOB_HEARTBEAT_SECONDS=1))
    result = app.test_cli_runner().invoke(args=["admin", "set-password", "--password-stdin"],
                                          input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    worker = training_worker.start_consumer_process({**os.environ, "DIGITS_INSTANCE_PATH": str(instance),
                                          "DIGITS_DATA_DIR": DATA_DIR,
                                          "DIGITS_MODEL": str(model.PRETRAINED)})
    try:
        with serving(app) as url:
            yield url
    finally:
        training_worker.stop_consumer_process(worker)


def watch(page):
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.add_init_script(WATCH_CSP)
    return problems


def teach(page, name, label):
    """Draw ``name`` on the pad and tell the network it was ``label``."""
    draw(page, BASE[name][1])
    read = answer(page)
    button = page.get_by_test_id("confirm") if read == str(label) else \
        page.get_by_test_id(f"label-{label}")
    button.click()
    expect(page.get_by_test_id("teach")).to_contain_text(f"Saved as a {label}")


@needs_data
def test_collect_retrain_watch_promote_and_the_draw_page_follows(browser, loop_server,
                                                                 tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = watch(page)

    # Log in: the Secure session cookie must be kept on http://127.0.0.1.
    page.goto(loop_server + "/admin/")
    expect(page).to_have_url(f"{loop_server}/admin/login?next=/admin/")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(loop_server + "/admin/")
    cookie = next(c for c in context.cookies() if c["name"] == "session")
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    # Teach it three drawings on the draw page.
    pad = context.new_page()
    pad_problems = watch(pad)
    pad.goto(loop_server + "/")
    pad.wait_for_function("() => window.htmx && document.querySelector('#reading')")
    expect(pad.get_by_test_id("model-version")).to_have_text("Model version 1")
    for name, label in (("7", 7), ("4", 4), ("1", 1)):
        teach(pad, name, label)
        pad.get_by_role("button", name="Clear").click()

    # The dashboard counts them and shows them in the gallery; relabel one, delete one,
    # in place (htmx), the counts following.
    page.reload()
    expect(page.get_by_test_id("collected-total")).to_have_text("3")
    cards = page.locator(".samples > li")
    expect(cards).to_have_count(3)
    newest = cards.first                                  # the 1, labelled last
    newest.get_by_label("Label of drawing").select_option("7")
    newest.get_by_role("button", name="Relabel").click()
    expect(page.locator(".samples > li").first).to_have_attribute("data-label", "7")
    expect(page.get_by_test_id("collected-counts")).to_have_attribute(
        "aria-label", re.compile(r" 1: 0, .* 7: 2,"))
    page.locator(".samples > li").first.get_by_role("button", name="Delete").click()
    page.get_by_test_id("confirm-ok").click()             # the page's own dialog asks first
    expect(page.locator(".samples > li")).to_have_count(2)
    expect(page.get_by_test_id("collected-total")).to_have_text("2")

    # A short retrain: two epochs, no augmentation; watch it run to the end.
    page.get_by_label("Epochs", exact=True).fill("2")
    page.get_by_label("Augment").uncheck()
    page.get_by_test_id("start-run").click()
    run = page.get_by_test_id("run")
    expect(run).to_have_attribute("data-status", "queued")
    expect(page.get_by_test_id("progress")).to_be_visible()
    expect(run).to_have_attribute("data-status", "running", timeout=60_000)
    expect(run).to_have_attribute("data-status", "succeeded", timeout=240_000)
    expect(page.get_by_test_id("progress")).to_have_attribute("value", "1.0000")
    expect(page.get_by_test_id("progress-text")).to_have_text("100%")
    assert run.get_attribute("hx-trigger") is None                   # polling has stopped
    expect(page.get_by_test_id("loss-chart")).to_be_visible()
    expect(page.get_by_test_id("learn").locator("img")).not_to_have_count(0)
    expect(page.get_by_test_id("confusion")).to_be_visible()
    expect(page.get_by_test_id("test-accuracy")).to_contain_text("%")
    expect(page.locator("#runs")).to_contain_text("succeeded")       # refreshed out of band
    expect(page.locator('#models tr[data-version="2"]')).to_be_visible()

    # Promote it (forced: a short run without augmentation may cost a little accuracy).
    row = page.locator('#models tr[data-version="2"]')
    row.get_by_label("force").check()
    row.get_by_role("button", name="Promote").click()
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("models-message")).to_contain_text("Promoted version 2")
    expect(page.locator('#models tr[data-version="2"]')).to_have_class("is-serving")
    expect(page.get_by_test_id("promote-run")).to_have_count(0)     # the run panel follows
    page.evaluate("window.scrollTo(0, 0)")
    shot = SCREENSHOT if os.environ.get("DIGITS_UPDATE_SCREENSHOTS") else tmp_path / "admin.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 50_000

    # The draw page reads with the new version.
    pad.reload()
    pad.wait_for_function("() => window.htmx && document.querySelector('#reading')")
    draw(pad, BASE["3"][1])
    answer(pad)
    expect(pad.locator("#reading")).to_have_attribute("data-model", "2")
    expect(pad.get_by_test_id("model-version")).to_have_text("Model version 2")

    for watched, found in ((page, problems), (pad, pad_problems)):
        assert found == []
        assert watched.evaluate("window.cspViolations") == []
    context.close()
