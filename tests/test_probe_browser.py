"""Probing a drawing and drawing over a dream, in Chromium: the reading follows every change.

The probe tools (``static/probe.js``) change the picture on the pad and the
PNG sent alike; each test checks what the network was sent (the form's PNG,
read back here) and what the page says. Nothing sleeps: every wait is for
the reading of the newest drawing (``tests.chromium.answer``).
"""

import io

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.chromium import answer, draw, open_pad, sent_input, sent_png
from tests.drawings import BASE

INK = """() => {
  const pad = document.getElementById("pad");
  const rgba = pad.getContext("2d").getImageData(0, 0, pad.width, pad.height).data;
  let dark = 0;
  for (let i = 0; i < rgba.length; i += 4) dark += rgba[i] < 128;
  return dark / (pad.width * pad.height);
}"""


@pytest.fixture
def pad(page, live_server):
    problems = open_pad(page, live_server)
    yield page
    assert problems == []
    assert page.evaluate("window.cspViolations") == []


def probabilities(page):
    return [float(page.get_by_test_id(f"prob-{d}").get_attribute("data-value")) for d in range(10)]


def sent_canvas_ink(page):
    """How much ink the newest PNG sent holds on the canvas itself (280×280, before the
    reading crops and scales it): the sum of its darkness, 1 per black pixel."""
    from PIL import Image
    grey = np.asarray(Image.open(io.BytesIO(sent_png(page))).convert("L"), dtype=np.float64)
    return float((255 - grey).sum() / 255)


def test_rubbing_out_the_top_of_a_3_changes_the_reading(pad, shipped_net):
    draw(pad, BASE["3"][1])
    assert answer(pad) == "3"
    before, ink = probabilities(pad), pad.evaluate(INK)
    pad.get_by_test_id("probe-erase-top").click()
    assert answer(pad) != "3"
    assert probabilities(pad) != before
    assert pad.evaluate(INK) < 0.7 * ink                  # the pad shows it rubbed out too
    expect(pad.get_by_test_id("probe-state")).to_have_text("Changed: 1 part rubbed out.")
    # The bars are the network's own reading of what was sent.
    x = sent_input(pad, shipped_net)
    p = shipped_net.feedforward(x[None])[0]
    assert probabilities(pad) == pytest.approx(list(p), abs=1e-4)
    pad.get_by_test_id("probe-reset").click()
    assert answer(pad) == "3"
    expect(pad.get_by_test_id("probe-state")).to_have_text("Your drawing as you drew it.")
    expect(pad.get_by_test_id("probe-reset")).to_be_disabled()


@pytest.mark.parametrize("tool, more_ink", [("probe-thicker", True), ("probe-thinner", False)])
def test_thicker_and_thinner_strokes_change_what_is_sent(pad, tool, more_ink):
    draw(pad, BASE["7"][1])
    assert answer(pad) == "7"
    ink = pad.evaluate(INK)
    pad.get_by_test_id(tool).click()
    answer(pad)
    assert (pad.evaluate(INK) > 1.2 * ink) if more_ink else (pad.evaluate(INK) < 0.8 * ink)


def test_noise_shift_and_rotation_each_send_a_new_picture_and_are_described(pad):
    draw(pad, BASE["1"][1])
    assert answer(pad) == "1"
    pngs = {sent_png(pad)}
    steps = [("probe-noise", "60 specks of noise"), ("probe-right", "shifted 1 right"),
             ("probe-rotate-right", "rotated 10° right")]
    for testid, words in steps:
        seq = pad.locator("#reader [name=seq]").input_value()
        pad.get_by_test_id(testid).click()
        answer(pad)
        assert pad.locator("#reader [name=seq]").input_value() != seq
        pngs.add(sent_png(pad))
        expect(pad.get_by_test_id("probe-state")).to_contain_text(words)
    assert len(pngs) == 4
    pad.get_by_test_id("clear").click()                   # Clear drops the changes too
    assert answer(pad) == ""
    expect(pad.get_by_test_id("probe-state")).to_have_text("Your drawing as you drew it.")


def test_the_probe_tools_work_with_the_keyboard(pad):
    draw(pad, BASE["7"][1])
    assert answer(pad) == "7"
    pad.get_by_test_id("probe-erase-bottom").focus()
    seq = pad.locator("#reader [name=seq]").input_value()
    pad.keyboard.press("Enter")
    answer(pad)
    assert pad.locator("#reader [name=seq]").input_value() != seq
    expect(pad.get_by_test_id("probe-state")).to_contain_text("1 part rubbed out")
    pad.keyboard.press("Tab")                              # on to "left"
    pad.keyboard.press("Space")
    answer(pad)
    expect(pad.get_by_test_id("probe-state")).to_contain_text("2 parts rubbed out")


def test_draw_over_a_dream(pad):
    expect(pad.get_by_test_id("dream-3")).to_be_hidden()    # folded: nothing fetched yet
    pad.locator("#dreams summary").click()
    dream = pad.get_by_test_id("dream-3")
    dream.scroll_into_view_if_needed()
    pad.wait_for_function(
        "() => document.querySelector('[data-testid=dream-3]').naturalWidth === 28")
    pad.get_by_test_id("draw-over-3").click()
    # The dream goes on the pad once its picture has loaded; only then is it sent.
    expect(pad.get_by_test_id("probe-state")).to_contain_text("over the dream of a 3")
    assert answer(pad) == "3"                              # the dream, drawn on the pad, reads 3
    expect(pad.get_by_test_id("clear")).to_be_enabled()     # the dream shows: it can be cleared
    ink = sent_canvas_ink(pad)
    pad.locator("#pad").scroll_into_view_if_needed()
    draw(pad, [[(0.2, 0.5), (0.8, 0.5)]])                  # a bar across it
    answer(pad)
    # The dream and the bar are sent as one picture (its 28×28 reading may hold less ink:
    # the bar widens what is scaled into the 20 px box).
    assert sent_canvas_ink(pad) > ink + 100
    assert np.isfinite(probabilities(pad)).all()
    pad.get_by_test_id("clear").click()
    assert answer(pad) == ""
    assert pad.evaluate(INK) == 0                          # the dream went too
