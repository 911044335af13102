"""A photo of a digit on paper, chosen on the draw page in Chromium: read, shown, corrected.

The photos are made by ``tests.photos``. A small one goes to the server as it
is (EXIF tag and all); a large one is shrunk in the browser first, since the
upload limit is 512 KiB and a phone's photo is several megabytes.
"""

from playwright.sync_api import expect

from tests.chromium import WATCH_CSP, answer, draw
from tests.drawings import BASE
from tests.photos import photo


def open_page(page, url):
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.add_init_script(WATCH_CSP)
    page.goto(url)
    page.wait_for_function("() => window.htmx && document.querySelector('#reading')")
    return problems


def choose(page, data, name="photo.jpg"):
    page.get_by_test_id("photo-file").set_input_files(
        files=[{"name": name, "mimeType": "image/jpeg", "buffer": data}])


def test_a_photo_is_read_and_shown_as_the_network_saw_it(page, live_server):
    problems = open_page(page, live_server)
    draw(page, BASE["1"][1])
    assert answer(page) == "1"
    choose(page, photo(3, lined=True, shadow=True, exif=6, size=(600, 800)))
    assert answer(page) == "3"
    expect(page.get_by_test_id("photo-kept")).to_be_visible()
    expect(page.locator("#verdict")).to_contain_text("It reads 3")
    assert page.evaluate("() => document.getElementById('undo').disabled")   # the pad cleared
    # "Yes" stores what was read: the cleaned photo, sent as the drawing.
    page.get_by_test_id("confirm").click()
    expect(page.get_by_test_id("teach")).to_contain_text("Saved as a 3")
    assert problems == [] and page.evaluate("window.cspViolations") == []


def test_a_large_photo_is_shrunk_before_it_is_sent(page, live_server):
    problems = open_page(page, live_server)
    big = photo(6, lined=True, shadow=True, size=(3000, 4000), seed=2)
    assert len(big) > 512 * 1024
    choose(page, big)
    assert answer(page) == "6"
    assert problems == []


def test_the_photo_buttons_work_from_the_keyboard(page, live_server):
    open_page(page, live_server)
    page.get_by_test_id("photo-file").focus()
    outline = page.evaluate("""() => getComputedStyle(
        document.querySelector('label[for=photo-file]')).outlineStyle""")
    assert outline == "solid"
    with page.expect_file_chooser() as chooser:
        page.keyboard.press(" ")
    chooser.value.set_files(files=[{"name": "p.jpg", "mimeType": "image/jpeg",
                                    "buffer": photo(7, lined=True, size=(600, 800))}])
    assert answer(page) == "7"
