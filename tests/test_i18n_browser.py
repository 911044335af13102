"""The pages in 简体中文 and Español, in Chromium: chosen with the switch, nothing sticks out
of its box or of the page, no character drawn as an empty box (tofu), at a phone's width
and a laptop's: the draw page, the admin, and a class (the teacher's pages, the board, a
student's page).

Chinese needs a CJK font: ``tests/browser_setup.py`` installs Debian's ``fonts-noto-cjk``
(``make test`` runs it); without one the Chinese cases fail, they do not skip. With
``DIGITS_SCREENSHOTS=<dir>`` each page is also saved there as a PNG, to look at.
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

import model
from tests.browser_setup import has_cjk_font
from tests.chromium import ANSWERED, draw
from tests.drawings import BASE
from tests.support import CHECK_AS_SHIPPED, PASSWORD, PASSWORD_HASH, app_config, furnished, serving
from webapp import create_app

WIDTHS = {"phone": 390, "laptop": 1280}
SHOTS = os.environ.get("DIGITS_SCREENSHOTS")

# Every visible element whose box reaches past the page's right edge, or whose content is
# wider than its own box (text or a child pushed out). Scroll boxes (a wide table in
# .table-scroll) are meant to hold wider content, and visually hidden text is 1 px wide.
OVERFLOWING = """() => {
  const page = document.documentElement.clientWidth;
  const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\\s+/).join(".") : "") +
    " «" + (el.innerText || el.getAttribute("aria-label") || "").trim().split("\\n")[0].slice(0, 30) + "»";
  const found = [];
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest(".visually-hidden, svg, noscript, option")) continue;
    const style = getComputedStyle(el);
    if (style.display === "none" || style.visibility === "hidden") continue;
    const scrolls = el.parentElement && el.parentElement.closest(
      "[class*=scroll], pre, .unit-table");
    const box = el.getBoundingClientRect();
    if (!box.width && !box.height) continue;
    if (!scrolls && box.right > page + 1) found.push(name(el) + " passes the page's edge");
    const scrolling = ["auto", "scroll"].includes(style.overflowX);
    if (!scrolling && !scrolls && style.display !== "inline" && el.clientWidth &&
        el.scrollWidth > el.clientWidth + 1) found.push(name(el) + " is wider inside than its box");
  }
  return found;
}"""

# The characters drawn with no glyph: each is drawn in the page's font on a canvas and
# compared with a character no font has (U+10FFFD, a private-use code point), which
# Chromium draws as the same empty box or nothing.
MISSING_GLYPHS = """() => {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 48;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const font = "32px " + getComputedStyle(document.body).fontFamily;
  const picture = ch => {
    ctx.clearRect(0, 0, 48, 48);
    ctx.font = font;
    ctx.fillText(ch, 4, 36);
    return ctx.getImageData(0, 0, 48, 48).data.join(",");
  };
  const none = picture("\\u{10FFFD}");
  const text = document.body.innerText + " " + [...document.querySelectorAll("[aria-label], [alt], [title]")]
    .map(el => el.getAttribute("aria-label") || el.getAttribute("alt") || el.getAttribute("title")).join(" ");
  const chars = [...new Set([...text].filter(ch => ch.trim()))];
  return { checked: chars.length, known: picture("A") !== none && picture("数") !== none,
           missing: chars.filter(ch => picture(ch) === none) };
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The shipped model, an admin password, drawings in the gallery, a finished run."""
    app = furnished(create_app(app_config(
        tmp_path_factory.mktemp("i18n"), TESTING=False, MODEL=str(model.PRETRAINED),
        MODEL_CHECK_SECONDS=CHECK_AS_SHIPPED, ADMIN_PASSWORD_HASH=PASSWORD_HASH)))
    with serving(app) as url:
        yield url


def choose(page, url, language):
    """Open the draw page in English and press the language on the switch."""
    page.goto(url + "/")
    page.get_by_test_id(f"language-{language}").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans" if language == "zh"
                                                   else language)


def look(page, where, language, width):
    """The page's overflowing elements and tofu; a screenshot when asked for."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{where}-{language}-{width}.png"),
                        full_page=True)
    glyphs = page.evaluate(MISSING_GLYPHS)
    assert glyphs["known"] and glyphs["checked"] > 20, glyphs
    return {"overflowing": page.evaluate(OVERFLOWING), "missing": glyphs["missing"]}


@pytest.mark.parametrize("width", WIDTHS, ids=str)
@pytest.mark.parametrize("language", ["zh", "es"])
def test_pages_fit_and_every_character_has_a_glyph(browser, server, language, width):
    if language == "zh":
        assert has_cjk_font(), "no CJK font: run python -m tests.browser_setup as root"
    context = browser.new_context(viewport={"width": WIDTHS[width], "height": 900})
    page = context.new_page()
    choose(page, server, language)
    seen = {}

    # The draw page with a reading, its hidden unit open, the correction row.
    page.wait_for_function("() => window.htmx && document.querySelector('#reading')")
    draw(page, BASE["7"][1])
    page.wait_for_function(ANSWERED)
    page.locator("[data-testid=hidden-bars] > .is-strong").first.click()
    expect(page.locator("#neuron .neuron")).to_be_visible()
    seen["draw"] = look(page, "draw", language, width)
    page.get_by_test_id("label-1").click()
    expect(page.get_by_test_id("teach").locator(".teach-done")).to_be_visible()
    seen["corrected"] = look(page, "corrected", language, width)

    page.goto(server + "/neuron/3")
    seen["neuron"] = look(page, "neuron", language, width)

    # The admin: its login, the dashboard with a finished run, the review queue.
    page.goto(server + "/admin/login")
    seen["login"] = look(page, "login", language, width)
    page.locator("#password").fill(PASSWORD)
    page.locator("form.stack button[type=submit]").click()
    expect(page.get_by_test_id("run")).to_have_attribute("data-status", "succeeded")
    seen["dashboard"] = look(page, "dashboard", language, width)
    page.goto(server + "/admin/review/")
    seen["review"] = look(page, "review", language, width)

    # A class: the teacher's list and page, the board; a student joins and draws.
    page.goto(server + "/admin/classes/")
    seen["classes"] = look(page, "classes", language, width)
    page.locator("#name").fill("4B")
    page.get_by_test_id("start-class").click()
    code = page.get_by_test_id("join-code").inner_text()
    seen["teacher"] = look(page, "teacher", language, width)
    student = context.browser.new_context(viewport={"width": WIDTHS[width], "height": 900})
    pupil = student.new_page()
    choose(pupil, server, language)
    pupil.goto(server + f"/class/{code}")
    pupil.get_by_test_id("nickname").fill("Ana")
    pupil.get_by_test_id("join").click()
    pupil.wait_for_function("() => window.htmx && document.querySelector('#reading')")
    draw(pupil, BASE["4"][1])
    pupil.wait_for_function(ANSWERED)
    seen["class-draw"] = look(pupil, "class-draw", language, width)
    student.close()
    page.goto(server + f"/admin/classes/{code}/board")
    expect(page.get_by_test_id("tile")).to_have_count(1)
    seen["board"] = look(page, "board", language, width)
    context.close()

    problems = [f"{where}: {problem}" for where, found in seen.items()
                for problem in found["overflowing"] + [f"no glyph for {ch!r}"
                                                       for ch in found["missing"]]]
    assert not problems, "\n".join(problems)


def test_the_glyph_check_sees_a_character_no_font_has(browser, server):
    page = browser.new_page()
    page.goto(server + "/")
    page.evaluate("() => { document.querySelector('.lede').textContent += ' \\u{10FFFE}'; }")
    assert page.evaluate(MISSING_GLYPHS)["missing"] == ["\U0010FFFE"]
