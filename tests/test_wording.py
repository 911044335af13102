"""Small things a new visitor reads: "an 8", and colours that meet WCAG AA contrast."""

import re
from pathlib import Path

import pytest

from tests import images
from tests.support import HTTPS, HX_FROM_PAGE, page_token
from webapp.reading.draw import a_digit

STATIC = Path(__file__).resolve().parent.parent / "static"


@pytest.mark.parametrize("digit, words", [(8, "an 8"), (1, "a 1"), (0, "a 0"), (7, "a 7")])
def test_a_digit_takes_its_article(digit, words):
    assert a_digit(digit, bold=False) == words
    assert a_digit(digit) == words.replace(f" {digit}", f" <strong>{digit}</strong>")


def test_the_correction_row_says_an_8(client):
    token = page_token(client)
    response = client.post("/corrections", base_url=HTTPS,
                           headers={**HX_FROM_PAGE, "X-CSRFToken": token},
                           data={"image": images.data_url(images.drawing("7")), "label": "8"})
    assert "Saved as an <strong>8</strong>" in response.text
    fragment = client.post("/predict", data={"image": images.data_url(images.drawing("7"))},
                           headers=HX_FROM_PAGE).text
    assert "It was a 8" not in fragment and "Yes, a 8" not in fragment
    assert 'aria-label="It was an 8"' in fragment or "Yes, an 8" in fragment


def luminance(hex_colour):
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b):
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def colours():
    text = (STATIC / "style.css").read_text() + (STATIC / "admin.css").read_text()
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", text))


@pytest.mark.parametrize("text, background", [
    ("good", "good-soft"), ("warn", "warn-soft"), ("accent", "accent-soft"),
    ("positive", "bad-soft"), ("muted", "track"), ("muted", "bg")])
def test_badges_and_muted_text_meet_aa_contrast(text, background):
    palette = colours()
    assert contrast(palette[text], palette[background]) >= 4.5


def test_the_picture_the_network_read_says_the_reading_in_words(client):
    fragment = client.post("/predict", data={"image": images.data_url(images.drawing("7"))},
                           headers=HX_FROM_PAGE).text
    alt = re.search(r'data-testid="seen"\s+alt="([^"]+)"', fragment).group(1)
    digit = re.search(r'data-testid="prediction">(\d)<', fragment).group(1)
    words = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    assert f"read as {digit} ({words[int(digit)]})" in alt and "sure" in alt
