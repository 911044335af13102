"""Accessible and projectable, in Chromium: axe-core on every page, the keyboard, the layouts.

axe-core comes from npm (``package.json`` devDependencies, pinned) and is run in
the page by ``tests.chromium.axe_violations``: zero WCAG 2.1 A/AA and
best-practice violations on every page and state a visitor or an operator
meets. The draw page is also used with the keyboard alone (a photo is the way
in without a pointer), and measured at a projector's 1920×1080 at 150 % zoom
and on a 390×844 phone.
"""

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

import model
from model import mnist
from tests import images
from tests.chromium import axe_violations, answer, draw
from tests.drawings import BASE
from tests.photos import photo
from tests.support import (CHECK_AS_SHIPPED, PASSWORD, PASSWORD_HASH, app_config, measured_run,
                           serving)
from webapp import create_app
from webapp.reading.corrections import add

FIXTURES = "tests/fixtures/t10k-500-{}-idx3-ubyte.gz"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The shipped model, three collected drawings and a finished run with results."""
    app = create_app(app_config(tmp_path_factory.mktemp("a11y"), TESTING=False,
                                MODEL=str(model.PRETRAINED), ADMIN_PASSWORD_HASH=PASSWORD_HASH,
                                MODEL_CHECK_SECONDS=CHECK_AS_SHIPPED, RATELIMIT_ENABLED=False))
    with app.test_request_context():
        for name, label in (("7", 7), ("1", 1), ("4", 9)):
            add(images.drawing(name), label, source="api")
    data = {"test_images": mnist.read_idx("tests/fixtures/t10k-500-images-idx3-ubyte.gz"),
            "test_labels": mnist.read_idx("tests/fixtures/t10k-500-labels-idx1-ubyte.gz")}
    measured_run(app, data)
    with serving(app) as url:
        yield url


def log_in(page, url):
    page.goto(url + "/admin/login")
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/admin/$"))


def no_violations(page, where):
    assert axe_violations(page) == [], where


def test_axe_finds_nothing_on_any_page(page, site):
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(site)
    page.wait_for_function("() => window.htmx")
    no_violations(page, "draw page, blank")
    draw(page, BASE["8"][1])
    answer(page)
    no_violations(page, "draw page, reading")
    page.locator("a.unit").nth(5).click()
    page.wait_for_selector("#neuron .weights")
    no_violations(page, "draw page, a unit open")
    page.get_by_test_id("confirm").click()
    expect(page.get_by_test_id("teach")).to_contain_text("Saved as")
    no_violations(page, "draw page, a correction saved")
    page.get_by_test_id("photo-file").set_input_files(files=[{
        "name": "p.jpg", "mimeType": "image/jpeg", "buffer": photo(2, lined=True, size=(600, 800))}])
    answer(page)
    no_violations(page, "draw page, a photo read")
    for path in ("/neuron/3", "/no-such-page", "/admin/login"):
        page.goto(site + path)
        no_violations(page, path)
    log_in(page, site)
    no_violations(page, "dashboard")
    page.get_by_test_id("cell-3-3").click()
    page.wait_for_selector("[data-testid=cell-digits] h5")
    no_violations(page, "dashboard, a confusion cell open")
    for path in ("/admin/models/1/card", "/admin/runs/1/cell?true=3&read=5", "/admin/?page=2"):
        page.goto(site + path)
        no_violations(page, path)
    for width, height in ((390, 844), (844, 390), (1280, 720)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(site)
        page.wait_for_function("() => window.htmx")
        no_violations(page, f"draw page at {width}×{height}")
        page.goto(site + "/admin/")
        no_violations(page, f"dashboard at {width}×{height}")


def test_the_whole_flow_by_keyboard_alone(page, site):
    """A photo chosen with the keyboard, its reading confirmed: the focus never falls to <body>."""
    page.goto(site)
    page.wait_for_function("() => window.htmx")
    for _ in range(120):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "photo-file":
            break
    assert page.evaluate("() => document.activeElement.id") == "photo-file"
    assert page.evaluate("""() => getComputedStyle(
        document.querySelector('label[for=photo-file]')).outlineStyle""") == "solid"
    chooser = None
    for _ in range(3):      # Chromium now and then lets a keypress on a file input go unheard
        try:
            with page.expect_file_chooser(timeout=10_000) as opened:
                page.keyboard.press(" ")
            chooser = opened.value
            break
        except PlaywrightTimeoutError:
            assert page.evaluate("() => document.activeElement.id") == "photo-file"
    assert chooser is not None, "Space on the focused file input never opened the file chooser"
    chooser.set_files(files=[{"name": "p.jpg", "mimeType": "image/jpeg",
                              "buffer": photo(4, lined=True, shadow=True, size=(600, 800))}])
    assert answer(page) == "4"
    for _ in range(120):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.dataset.testid") == "confirm":
            break
    expect(page.get_by_test_id("confirm")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("teach")).to_contain_text("Saved as a 4")
    expect(page.locator(".teach-done")).to_be_focused()     # once htmx has settled the swap


def test_every_control_shows_where_the_focus_is(page, site):
    page.goto(site)
    page.wait_for_function("() => window.htmx")
    draw(page, BASE["6"][1])
    answer(page)
    page.locator("a.unit").nth(3).click()
    page.wait_for_selector("#neuron .weights")
    page.locator("#brand, .brand").first.focus()
    seen = set()
    for _ in range(30):
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => {
          const e = document.activeElement;
          const shown = e.matches('.photo-input') ? document.querySelector(`label[for=${e.id}]`) : e;
          const style = getComputedStyle(shown);
          const cell = e.querySelector && e.querySelector('.cell');
          return [e.tagName + '#' + (e.id || (e.dataset && e.dataset.testid) || e.getAttribute('class')),
                  style.outlineStyle !== 'none' && style.outlineWidth !== '0px'
                  || (cell && getComputedStyle(cell).stroke !== 'none')];
        }""")
        if focused[0].startswith("BODY"):
            break                              # past the last control
        seen.add(focused[0])
        assert focused[1], f"{focused[0]} has no visible focus"
    assert len(seen) >= 12, seen


def test_admin_asks_in_its_own_dialog_and_gives_the_focus_back(page, site):
    native = []
    page.on("dialog", lambda d: (native.append(d.message), d.dismiss()))
    log_in(page, site)
    cards = page.locator(".samples > li").count()
    delete = page.locator(".samples > li").first.get_by_role("button", name="Delete")
    delete.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("dialog.confirm")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("for good?")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator(".samples > li")).to_have_count(cards)     # nothing deleted
    expect(delete).to_be_focused()
    relabel = page.locator(".samples > li").first.get_by_role("button", name="Relabel")
    relabel.click()
    expect(page.locator(".samples > li").first.get_by_role("button", name="Relabel")) \
        .to_be_focused()
    assert native == []


def test_a_projector_shows_pad_reading_and_probabilities_on_one_screen(browser, site):
    """1920×1080 at 150 % zoom is a 1280×720 CSS-pixel viewport at device scale 1.5."""
    context = browser.new_context(viewport={"width": 1280, "height": 720},
                                  device_scale_factor=1.5)
    page = context.new_page()
    page.goto(site)
    page.wait_for_function("() => window.htmx")
    draw(page, BASE["3"][1])
    assert answer(page) == "3"
    for selector in ("#pad", "#verdict", "[data-testid=prob-0]", "[data-testid=prob-9]"):
        box = page.locator(selector).bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= 720, (selector, box)
    page.screenshot(path="/tmp/digits-projector.png")
    context.close()


def test_a_phone_keeps_the_digit_and_its_confidence_in_view_while_drawing(browser, site):
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True,
                                  device_scale_factor=3, is_mobile=True)
    page = context.new_page()
    page.goto(site)
    page.wait_for_function("() => window.htmx")
    page.locator("#pad").scroll_into_view_if_needed()
    draw(page, BASE["7"][1])
    assert answer(page) == "7"
    for selector in ("#pad", "[data-testid=prediction]", ".verdict-text"):
        box = page.locator(selector).bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= 844, (selector, box)
    pad, verdict = page.locator("#pad").bounding_box(), page.locator("#verdict").bounding_box()
    assert pad["y"] + pad["height"] <= verdict["y"]                 # side by side, not covered
    expect(page.locator("#verdict")).to_contain_text("sure")
    # The correction row's nine digits share one line.
    tops = page.evaluate("""() => [...document.querySelectorAll('.teach-digits button')]
                             .map(b => Math.round(b.getBoundingClientRect().top))""")
    assert len(set(tops)) == 1, tops
    context.close()


def test_a_phone_held_sideways_fits_the_pad_on_its_screen(browser, site):
    context = browser.new_context(viewport={"width": 844, "height": 390}, has_touch=True,
                                  is_mobile=True)
    page = context.new_page()
    page.goto(site)
    page.wait_for_function("() => window.htmx")
    assert page.locator("#pad").bounding_box()["height"] <= 390
    context.close()


def test_the_reading_does_not_jump_when_the_correction_row_comes(page, site):
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(site)
    page.wait_for_function("() => window.htmx")
    before = page.get_by_test_id("prob-0").bounding_box()["y"]
    draw(page, BASE["2"][1])
    answer(page)
    expect(page.get_by_test_id("teach")).to_be_visible()
    assert abs(page.get_by_test_id("prob-0").bounding_box()["y"] - before) <= 2


def test_selecting_a_unit_does_not_scroll_and_the_caption_names_it(page, site):
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(site)
    page.wait_for_function("() => window.htmx")
    draw(page, BASE["5"][1])
    answer(page)
    unit = page.locator('a.unit[data-unit="200"]')
    unit.scroll_into_view_if_needed()
    scrolled = page.evaluate("() => window.scrollY")
    unit.hover()
    unit.click()
    page.wait_for_selector('#neuron [data-unit="200"]')
    assert page.evaluate("() => window.scrollY") == scrolled
    caption = page.locator("section.units .unit-caption").first
    expect(caption).to_contain_text("Unit 200:")


def test_the_admin_models_table_fits_a_phone(browser, site):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    log_in(page, site)
    width = page.evaluate("() => document.documentElement.clientWidth")
    for selector in ("[data-testid=versions]", "[data-testid=learn]"):
        if page.locator(selector).count():
            box = page.locator(selector).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, (selector, box)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    context.close()
