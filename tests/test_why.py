"""The draw page's why panels (``webapp/reading/why.py``): sent with a reading only when asked.

The canvas's htmx request with an ``explain`` field gets both panels as
out-of-band swaps after the reading; without it, nothing more. The numbers
in them are checked in Chromium (``tests/test_explain_browser.py``); here
the request's contract, its refusals and the dream pictures.
"""

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from tests import images
from tests.support import HX

FORM = "application/x-www-form-urlencoded"


def page_form(png, **fields):
    return {"image": "data:image/png;base64," + base64.b64encode(png).decode(), "seq": "3",
            **fields}


def test_a_reading_without_the_field_carries_no_panels(client):
    response = client.post("/predict", data=page_form(images.drawing("3")), headers=HX)
    assert response.status_code == 200
    assert 'id="reading"' in response.text and 'id="explanation"' not in response.text


@pytest.mark.parametrize("explain, unit, explained, shown_unit", [
    ("reading", "", None, None), ("8", "", 8, None), ("reading", "5", None, 5)])
def test_asked_why_the_reading_brings_both_panels_out_of_band(client, explain, unit, explained,
                                                             shown_unit):
    response = client.post("/predict", data=page_form(images.drawing("3"), explain=explain,
                                                      unit=unit), headers=HX)
    assert response.status_code == 200
    html = response.text
    reading = re.search(r'id="reading"[^>]*data-state="(\w+)"', html)
    assert reading and reading.group(1) in ("sure", "unsure")
    panel = re.search(r'<article id="explanation"[^>]*data-explained="(\d)" data-reading="(\d)"'
                      r'[^>]*hx-swap-oob="outerHTML"', html)
    unit_panel = re.search(r'<article id="unit-sum"[^>]*data-unit="(\d+)"[^>]*hx-swap-oob', html)
    assert panel and unit_panel
    read = int(panel.group(2))
    assert int(panel.group(1)) == (read if explained is None else explained)
    if shown_unit is not None:
        assert int(unit_panel.group(1)) == shown_unit
    assert "These pushes add up to" in html and "z = w·x + b" in html
    assert html.count('src="data:image/png;base64,') >= 3   # seen, attribution, contributions


def test_a_blank_drawing_empties_the_panels(client):
    response = client.post("/predict", data=page_form(images.blank(), explain="reading"),
                           headers=HX)
    assert response.status_code == 200
    assert re.search(r'<article id="explanation"[^>]*data-explained=""', response.text)
    assert "Draw a digit. Its 28×28 picture appears here" in response.text


@pytest.mark.parametrize("fields, word", [({"explain": "12"}, "0 to 9"),
                                          ({"explain": "reading", "unit": "-3"}, "0 to 15"),
                                          ({"explain": "reading", "unit": "x"}, "0 to 15")])
def test_a_bad_choice_is_a_400_in_the_reading_s_place(client, fields, word):
    response = client.post("/predict", data=page_form(images.drawing("3"), **fields), headers=HX)
    assert response.status_code == 400
    assert 'data-state="error"' in response.text and word in response.text


def test_a_unit_beyond_a_newly_served_smaller_model_falls_back_to_the_strongest(client):
    """The page chose unit 99 on a 256-unit model; the 16-unit model now served has none."""
    response = client.post("/predict", data=page_form(images.drawing("3"), explain="reading",
                                                      unit="99"), headers=HX)
    assert response.status_code == 200
    assert re.search(r'<article id="unit-sum"[^>]*data-unit="\d+"', response.text)


def test_a_dream_picture_is_a_28_pixel_png_revalidated_by_version(client):
    response = client.get("/dream/3.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    picture = np.asarray(Image.open(io.BytesIO(response.data)))
    assert picture.shape == (28, 28) and picture.dtype == np.uint8
    assert response.headers["Cache-Control"] == "no-cache"
    again = client.get("/dream/3.png", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    assert client.get("/dream/11.png").status_code == 404
