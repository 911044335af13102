"""The pen, the canvas and the ink: ``static/draw.js`` and ``model/canvas.py`` must agree.

The page draws with draw.js; generated training drawings are painted by
model/canvas.py "as the page's canvas does". A change to one alone would make
the training drawings differ from what visitors send, silently: this reads the
constants out of draw.js and holds them to canvas.py's.
"""

import re
from fractions import Fraction
from pathlib import Path

import pytest

from model import canvas

DRAW_JS = Path(__file__).resolve().parent.parent / "static" / "draw.js"


def js_constant(name, source=None):
    """The value of ``var NAME = ...;`` in draw.js: a number, a fraction a / b, or a string."""
    source = DRAW_JS.read_text() if source is None else source
    found = re.findall(rf"\bvar {name} = ([^;]+);", source)
    assert len(found) == 1, f"draw.js should set {name} once, found {found}"
    text = found[0].strip()
    if text[0] in "\"'":
        return text.strip("\"'")
    number = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?))?", text)
    assert number, f"{name} = {text} is not a number or a fraction"
    value = Fraction(number.group(1))
    return float(value / Fraction(number.group(2)) if number.group(2) else value)


def luminance(hex_colour):
    """#rrggbb → its ITU-R 601 luma, as canvas.py writes the ink."""
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.299 * r + 0.587 * g + 0.114 * b


def test_the_pen_is_as_wide_on_the_page_as_in_the_generated_drawings():
    assert js_constant("PEN") == pytest.approx(canvas.PEN, abs=1e-12)


def test_the_picture_sent_is_as_large_as_the_one_painted():
    assert js_constant("EXPORT_SIDE") == canvas.SIDE


def test_ink_and_paper_are_the_same_greys():
    assert luminance(js_constant("INK")) == pytest.approx(canvas.INK, abs=1e-9)
    assert luminance(js_constant("PAPER")) == pytest.approx(canvas.PAPER, abs=1e-9)


def test_the_reader_reads_fractions_numbers_and_strings():
    source = 'var A = 1 / 14;\nvar B = 280;\nvar C = "#16181d";\n'
    assert js_constant("A", source) == 1 / 14 and js_constant("B", source) == 280
    assert js_constant("C", source) == "#16181d"
    with pytest.raises(AssertionError):
        js_constant("D", source)
