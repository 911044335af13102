"""The held-out hand-drawn forms (``tests/handdrawn_forms.py``) read by the shipped model
through the upload path: rendered with Pillow like a canvas PNG, read by ``read_digit``.

The browser test draws a subset on the real page with the mouse
(``tests/test_browser.py``); ``bench/forms.py`` reports the numbers.
"""

from collections import defaultdict

import pytest

import model
from tests.drawings import render
from tests.handdrawn_forms import HANDDRAWN, all_drawings
from webapp.reading.normalise import read_digit


@pytest.fixture(scope="module")
def readings():
    """{form: [(digit read, digit drawn), ...]} for every held-out drawing."""
    net, _ = model.load(model.PRETRAINED)
    out = defaultdict(list)
    for form, _, digit, strokes in all_drawings():
        image = read_digit(render(strokes)).image
        read = int(net.predict(model.inputs(net, image[None]))[0])
        out[form].append((read, digit))
    return out


def test_the_set_has_ten_drawings_of_every_form():
    assert len(HANDDRAWN) >= 17
    assert all(len(drawings) >= 10 for _, drawings in HANDDRAWN.values())
    assert {digit for digit, _ in HANDDRAWN.values()} == set(range(10))


@pytest.mark.parametrize("form", list(HANDDRAWN))
def test_the_shipped_model_reads_each_form(readings, form):
    wrong = [read for read, digit in readings[form] if read != digit]
    assert len(wrong) <= len(readings[form]) // 5, f"{form} misread as {wrong}"


def test_the_shipped_model_reads_the_held_out_set(readings):
    pairs = [pair for form in readings.values() for pair in form]
    assert sum(read == digit for read, digit in pairs) >= 0.95 * len(pairs)
