"""The draw page's "Why this answer" and unit arithmetic in Chromium, checked against the network.

A 3 is drawn with the mouse; the numbers the page then shows are compared
with the shipped network's own, computed here from the very PNG the page
sent (``tests.support.sent_input``): the attribution's total for the reading
and for "why not 8", and a selected unit's w·x, b, z, σ(z), votes and the
softmax. The keyboard alone walks the same flow.
"""

import math

import numpy as np
import pytest
from playwright.sync_api import expect

from model import explain
from tests.chromium import answer, draw, open_pad, sent_input
from tests.drawings import BASE

EXPLAINED = """([digit, unit]) => {
  const e = document.getElementById("explanation"), u = document.getElementById("unit-sum");
  const reading = document.querySelector("#reading");
  return reading.dataset.seq === document.querySelector("#reader [name=seq]").value
    && e.dataset.explained === digit && (unit === null || u.dataset.unit === unit);
}"""


def explained(page, digit, unit=None):
    """Wait until the panels show the newest drawing, explaining ``digit`` (and ``unit``)."""
    page.wait_for_function(EXPLAINED, arg=[str(digit), None if unit is None else str(unit)])


@pytest.fixture
def pad(page, live_server):
    problems = open_pad(page, live_server)
    yield page
    assert problems == []
    assert page.evaluate("window.cspViolations") == []


def number(page, testid):
    return float(page.get_by_test_id(testid).inner_text().replace("−", "-"))


def test_why_3_and_why_not_8_add_up_to_the_network_s_own_scores(pad, shipped_net):
    draw(pad, BASE["3"][1])
    assert answer(pad) == "3"
    explained(pad, 3)
    expect(pad.get_by_test_id("why-title")).to_have_text("Why 3?")
    x = sent_input(pad, shipped_net)
    for digit in (3, 8):
        if digit == 8:
            pad.get_by_test_id("why-8").check()
            explained(pad, 8)
            expect(pad.get_by_test_id("why-title")).to_have_text("Why not 8? It reads 3")
        expected = explain.attribution(shipped_net, x, digit)
        total = float(pad.get_by_test_id("why-sum").get_attribute("data-total"))
        assert total == pytest.approx(expected.score.drawing - expected.score.blank, abs=1e-5)
        assert total == pytest.approx(expected.attribution.sum(), abs=1e-5)
        expect(pad.get_by_test_id("why-sum")).to_contain_text(f"{expected.attribution.sum():+.2f}")
    assert total < 0                     # the 3's ink speaks against an 8
    expect(pad.get_by_test_id("why-sum")).to_contain_text("fell")
    image = pad.get_by_test_id("why-picture")
    assert image.evaluate("img => img.naturalWidth") == 28
    expect(image).to_have_attribute(
        "alt", "Your drawing as the network saw it, 28 by 28 pixels: orange where the ink pushed "
               "the reading towards 8, blue where it pushed it away from 8")


def test_a_selected_unit_s_numbers_are_the_network_s_own(pad, shipped_net):
    draw(pad, BASE["3"][1])
    assert answer(pad) == "3"
    explained(pad, 3)
    x = sent_input(pad, shipped_net).astype(np.float64)
    hidden = shipped_net.forward(x[None].astype(np.float32))[1][0]
    strongest = int(np.argmax(hidden))
    expect(pad.get_by_test_id("unit-title")).to_have_text(
        f"One unit's arithmetic: hidden unit {strongest}")
    chosen = int(np.argsort(hidden)[-5])                     # the fifth strongest
    pad.locator(f'[data-testid=hidden-bars] > a.unit[data-unit="{chosen}"]').click()
    explained(pad, 3, chosen)
    expect(pad.locator("#neuron")).to_contain_text(f"Hidden unit {chosen}")

    w = shipped_net.weights[0][:, chosen].astype(np.float64)
    b = float(shipped_net.biases[0][chosen])
    z = float(w @ x + b)
    a = 1 / (1 + math.exp(-z))
    assert number(pad, "unit-wx") == pytest.approx(w @ x, abs=6e-5)
    assert number(pad, "unit-b") == pytest.approx(b, abs=6e-5)
    assert number(pad, "unit-z-value") == pytest.approx(z, abs=6e-5)
    assert number(pad, "unit-a-value") == pytest.approx(a, abs=6e-5)
    votes = [float(v) for v in pad.locator("[data-testid=unit-votes] li").evaluate_all(
        "items => items.map(li => li.dataset.value)")]
    assert votes == pytest.approx(list(shipped_net.weights[1][chosen] * a), abs=6e-5)
    # The largest terms: each w × x is its pixel's weight times its ink.
    rows = pad.locator("[data-testid=unit-terms] tbody tr")
    assert rows.count() == 5
    for k in range(5):
        i = int(rows.nth(k).get_attribute("data-pixel"))
        cells = [float(c) for c in rows.nth(k).locator("td").all_inner_texts()]
        assert cells == pytest.approx([w[i], x[i], w[i] * x[i]], abs=6e-5)
    # The softmax of the output layer's z is the page's probability of each digit.
    out = shipped_net.forward(x[None].astype(np.float32))
    logits = out[1][0].astype(np.float64) @ shipped_net.weights[1] + shipped_net.biases[1]
    p = np.exp(logits - logits.max())
    p /= p.sum()
    for k in range(10):
        assert number(pad, f"output-z-{k}") == pytest.approx(logits[k], abs=6e-3)
        assert number(pad, f"output-p-{k}") == pytest.approx(p[k], abs=6e-4)

    pad.get_by_role("button", name=f"Unit {chosen + 1} →").click()
    explained(pad, 3, chosen + 1)
    expect(pad.locator("#neuron")).to_contain_text(f"Hidden unit {chosen + 1}")


def test_explaining_can_be_switched_off(pad):
    draw(pad, BASE["7"][1])
    assert answer(pad) == "7"
    explained(pad, 7)
    pad.get_by_test_id("why-on").uncheck()
    expect(pad.locator("#why-panels")).to_be_hidden()
    pad.get_by_test_id("clear").click()
    assert answer(pad) == ""
    pad.locator("#pad").scroll_into_view_if_needed()      # unchecking scrolled the switch in
    draw(pad, BASE["1"][1])
    assert answer(pad) == "1"
    assert pad.locator("#explanation").get_attribute("data-explained") == "7"   # not asked
    pad.get_by_test_id("why-on").check()
    explained(pad, 1)


def test_the_explain_controls_work_with_the_keyboard_alone(pad, shipped_net):
    draw(pad, BASE["3"][1])
    assert answer(pad) == "3"
    explained(pad, 3)
    pad.get_by_test_id("why-on").focus()
    pad.keyboard.press("Tab")                             # into the digit choices
    assert pad.evaluate("document.activeElement.value") == "reading"
    for _ in range(9):                                    # the reading → 0 → … → 8
        pad.keyboard.press("ArrowRight")
    assert pad.evaluate("document.activeElement.value") == "8"
    explained(pad, 8)
    expect(pad.get_by_test_id("why-title")).to_contain_text("Why not 8?")
    unit = int(pad.locator("#unit-sum").get_attribute("data-unit"))
    pad.keyboard.press("Tab")                             # to "← Unit j−1"
    pad.keyboard.press("Tab")                             # to "Unit j+1 →"
    assert pad.evaluate("document.activeElement.id") == "unit-next"
    pad.keyboard.press("Enter")
    explained(pad, 8, unit + 1)
    pad.wait_for_function("() => document.activeElement.id === 'unit-next'")
    pad.keyboard.press("Enter")                           # the focus stayed: walk on
    explained(pad, 8, unit + 2)
    expect(pad.get_by_test_id("unit-title")).to_have_text(
        f"One unit's arithmetic: hidden unit {unit + 2}")


@pytest.fixture
def phone(browser, live_server):
    """A 390×844 touch screen, as in the issue."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=3,
                                  has_touch=True, is_mobile=True)
    page = context.new_page()
    problems = open_pad(page, live_server)
    yield page
    assert problems == []
    context.close()


def test_on_a_phone_a_tapped_unit_shows_its_sums_and_nothing_scrolls_sideways(phone):
    draw(phone, BASE["3"][1])
    assert answer(phone) == "3"
    explained(phone, 3)
    unit = phone.locator('[data-testid=hidden-bars] > a.unit[data-unit="40"]')
    unit.scroll_into_view_if_needed()
    unit.tap()
    explained(phone, 3, 40)
    phone.locator("#unit-sum").scroll_into_view_if_needed()
    expect(phone.get_by_test_id("unit-title")).to_have_text("One unit's arithmetic: hidden unit 40")
    phone.get_by_role("button", name="Unit 41 →").tap()
    explained(phone, 3, 41)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    for name in ("Unit 42 →", "← Unit 40"):
        assert phone.get_by_role("button", name=name).bounding_box()["height"] >= 44
