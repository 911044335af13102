"""The draw page and its htmx fragment, the neuron view, htmx itself, and the headers."""

import io
import re
from html.parser import HTMLParser

import pytest

from tests import images
from tests.support import HX, app_config, save_network
from webapp import create_app


class Elements(HTMLParser):
    """Every start tag of a document as (tag, attrs dict), and the text inside each testid."""

    def __init__(self, html):
        super().__init__()
        self.elements, self.text, self._open = [], {}, []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.elements.append((tag, attrs))
        if "data-testid" in attrs:
            self._open.append([attrs["data-testid"], tag, 0])
            self.text.setdefault(attrs["data-testid"], "")
        for item in self._open:
            item[2] += item[1] == tag

    def handle_endtag(self, tag):
        for item in self._open:
            item[2] -= item[1] == tag
        self._open = [item for item in self._open if item[2] > 0]

    def handle_data(self, data):
        for testid, _, _ in self._open:
            self.text[testid] += data

    def find(self, **attrs):
        attrs = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [(tag, a) for tag, a in self.elements
                if all(a.get(k) == v for k, v in attrs.items())]

    def one(self, **attrs):
        found = self.find(**attrs)
        assert len(found) == 1, (attrs, found)
        return found[0][1]


def post_drawing(client, png, headers=HX, seq=None):
    data = {"image": (io.BytesIO(png), "pad.png")}
    if seq is not None:
        data["seq"] = str(seq)
    return client.post("/predict", data=data, headers=headers)


def test_page_has_the_pad_the_controls_and_an_empty_reading(client):
    response = client.get("/")
    assert response.status_code == 200
    page = Elements(response.text)
    page.one(id="pad")
    assert page.one(data_testid="clear")["aria-keyshortcuts"]
    assert page.one(data_testid="undo")["aria-keyshortcuts"]
    assert page.text["prediction"] == ""
    assert page.one(id="verdict")["aria-live"] == "polite"
    assert "Draw a digit" in response.text
    for digit in range(10):
        page.one(data_testid=f"prob-{digit}")
    units = [a for tag, a in page.elements if tag == "a" and "data-unit" in a]
    assert len(units) == 16 and units[0]["href"] == "/neuron/0"
    form = page.one(id="reader")
    assert form["hx-post"] == "/predict" and form["hx-sync"] == "this:queue last"


def test_page_needs_no_inline_script_or_style(client):
    html = client.get("/").text
    page = Elements(html)
    scripts = [a for tag, a in page.elements if tag == "script"]
    assert scripts and all(a.get("src", "").startswith("/") for a in scripts)
    assert not [tag for tag, a in page.elements if "style" in a or tag == "style"]
    assert not [a for tag, a in page.elements if any(k.startswith(("on", "hx-on")) for k in a)]
    config = page.one(name="htmx-config")["content"]
    for setting in ('"allowEval":false', '"includeIndicatorStyles":false',
                    '"selfRequestsOnly":true'):
        assert setting in config


@pytest.mark.parametrize("path", ["/", "/neuron/3", "/static/style.css", "/nowhere"])
def test_security_headers_on_every_response(client, path):
    headers = client.get(path).headers
    csp = headers["Content-Security-Policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'",
                      "img-src 'self' data:", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"


def test_fragment_answers_a_drawing(client):
    response = post_drawing(client, images.drawing("7"), seq=5)
    assert response.status_code == 200
    assert "<html" not in response.text and "<canvas" not in response.text
    fragment = Elements(response.text)
    verdict = fragment.one(id="verdict")
    assert verdict["hx-swap-oob"] == "innerHTML" and verdict["aria-live"] == "polite"
    assert fragment.one(id="reading")["data-seq"] == "5"
    digit = fragment.text["prediction"].strip()
    assert digit.isdigit()
    values = [float(fragment.one(data_testid=f"prob-{d}")["data-value"]) for d in range(10)]
    assert max(range(10), key=values.__getitem__) == int(digit)
    assert "is-top" in fragment.one(data_testid=f"prob-{digit}")["class"]
    assert fragment.one(data_testid="hidden-bars")["data-columns"] == "4"
    assert response.text.count("data-unit=") == 16
    assert fragment.one(data_testid="seen")["src"].startswith("data:image/png;base64,")
    assert fragment.one(data_testid="seen")["alt"].startswith(
        f"The 28 by 28 pixel image the network read as {digit} (")


@pytest.mark.parametrize("encoding", ["zstd", "gzip"])
def test_fragments_are_compressed_for_browsers_that_accept_it(client, encoding):
    import gzip

    from backports import zstd

    plain = post_drawing(client, images.drawing("7"), seq=2)
    packed = post_drawing(client, images.drawing("7"), seq=2,
                          headers={**HX, "Accept-Encoding": f"{encoding}, identity;q=0.5"})
    assert packed.headers["Content-Encoding"] == encoding
    assert "Accept-Encoding" in packed.headers["Vary"]
    assert "Content-Security-Policy" in packed.headers
    unpack = zstd.decompress if encoding == "zstd" else gzip.decompress
    assert unpack(packed.get_data()) == plain.get_data()
    assert len(packed.get_data()) < len(plain.get_data()) / 4
    assert "Content-Encoding" not in plain.headers


def test_fragment_accepts_the_canvas_data_url(client):
    import base64

    url = "data:image/png;base64," + base64.b64encode(images.drawing("7")).decode()
    by_url = client.post("/predict", data={"image": url, "seq": "1"}, headers=HX)
    by_file = post_drawing(client, images.drawing("7"), seq=1)
    assert by_url.status_code == 200 and by_url.text == by_file.text


def test_blank_canvas_asks_for_a_digit(client):
    response = post_drawing(client, images.blank(mode="RGBA", colour=(0, 0, 0, 0)))
    fragment = Elements(response.text)
    assert response.status_code == 200
    assert fragment.text["prediction"] == ""
    assert "Draw a digit" in response.text and "sure" not in response.text
    assert "is-top" not in response.text and "is-strong" not in response.text


def test_a_speck_says_why_it_is_not_read(client):
    from tests.drawings import render

    response = post_drawing(client, render([[(0.5, 0.5)]]))
    assert "too little ink" in response.text and Elements(response.text).text["prediction"] == ""


@pytest.mark.parametrize("case", images.BAD_UPLOADS, ids=[c[0] for c in images.BAD_UPLOADS])
def test_bad_upload_shows_the_message_where_the_answer_goes(client, case):
    _, body, _, status, word = case
    response = post_drawing(client, body)
    assert response.status_code == status
    fragment = Elements(response.text)
    assert fragment.one(id="verdict")["hx-swap-oob"] == "innerHTML"
    assert word in response.text and fragment.text["prediction"] == ""


def test_oversized_fragment_request_is_413_with_a_message(client):
    response = post_drawing(client, b"\0" * (600 * 1024))
    assert response.status_code == 413 and "too large" in response.text
    assert Elements(response.text).one(id="verdict")


def test_plain_form_post_gets_the_whole_page(client):
    response = post_drawing(client, images.drawing("7"), headers={})
    assert response.status_code == 200 and "<canvas" in response.text
    assert Elements(response.text).text["prediction"].strip().isdigit()
    assert "hx-swap-oob" not in response.text


def fixed_answer_client(tmp_path, **network):
    path = save_network(tmp_path / "fixed.npz", zero_weights=True, **network)
    return create_app(app_config(tmp_path / "instance", MODEL=str(path))).test_client()


def test_low_confidence_says_not_sure_and_names_the_runner_up(tmp_path):
    bias = [0.0] * 10
    bias[4], bias[9] = 0.9, 0.6          # softmax: 4 ≈ 19 %, 9 ≈ 14 %, the rest ≈ 8 %
    response = post_drawing(fixed_answer_client(tmp_path, output_bias=bias), images.drawing("4"))
    fragment = Elements(response.text)
    assert fragment.text["prediction"].strip() == "4"
    assert "Not sure" in response.text
    assert "or <strong>9</strong>" in response.text


def test_high_confidence_says_how_sure(tmp_path):
    bias = [0.0] * 10
    bias[3] = 12.0
    response = post_drawing(fixed_answer_client(tmp_path, output_bias=bias), images.drawing("3"))
    assert Elements(response.text).text["prediction"].strip() == "3"
    assert ">99% sure" in response.text.replace("&gt;", ">") and "Not sure" not in response.text


def test_neuron_view_is_a_page_and_a_fragment(client):
    page = client.get("/neuron/3")
    assert page.status_code == 200 and "<html" in page.text and "Hidden unit 3" in page.text
    fragment = client.get("/neuron/3", headers=HX)
    assert fragment.status_code == 200 and "<html" not in fragment.text
    parsed = Elements(fragment.text)
    assert parsed.one(**{"class": "weights"})["src"].startswith("data:image/png;base64,")
    assert len([tag for tag, a in parsed.elements if tag == "li"]) == 10     # its ten votes
    links = [a["href"] for tag, a in parsed.elements if tag == "a"]
    assert links == ["/neuron/2", "/neuron/4"]


@pytest.mark.parametrize("unit", [16, 999])
def test_neuron_out_of_range_is_404_with_a_message(client, unit):
    response = client.get(f"/neuron/{unit}")
    assert response.status_code == 404 and "units 0 to 15" in response.text
    assert client.get("/neuron/-1").status_code == 404
    # In the page's panel (after a model swap, say): a message, not a prediction fragment.
    fragment = client.get(f"/neuron/{unit}", headers=HX)
    assert fragment.status_code == 404 and "units 0 to 15" in fragment.text
    assert 'id="verdict"' not in fragment.text and "<html" not in fragment.text


def test_fragments_and_pages_share_urls_so_responses_vary_on_htmx(client):
    assert "HX-Request" in client.get("/neuron/1").headers["Vary"]
    assert "HX-Request" in post_drawing(client, images.drawing("7")).headers["Vary"]


def test_every_hidden_layer_gets_its_bars(tmp_path):
    path = save_network(tmp_path / "deep.npz", sizes=(784, 16, 9, 10))
    client = create_app(app_config(tmp_path / "instance", MODEL=str(path))).test_client()
    fragment = Elements(post_drawing(client, images.drawing("7")).text)
    assert fragment.one(data_testid="hidden-bars")["viewbox"] == "0 0 4 4"
    assert fragment.one(data_testid="hidden-bars-2")["viewbox"] == "0 0 3 3"
    assert len([a for tag, a in fragment.elements if tag == "a" and "data-unit" in a]) == 16
    data = client.post("/api/v1/predict", data=images.drawing("7"), content_type="image/png").json
    assert [len(h) for h in data["hidden"]] == [16, 9]


def test_htmx_is_served_from_node_modules(client):
    response = client.get("/vendor/htmx.min.js")
    assert response.status_code == 200
    assert response.mimetype in ("text/javascript", "application/javascript")
    assert b"htmx" in response.data[:2000]


def test_missing_node_modules_is_a_404_not_a_crash(model_path, tmp_path):
    app = create_app(app_config(tmp_path / "instance", MODEL=str(model_path),
                                 NODE_MODULES=str(tmp_path)))
    assert app.test_client().get("/vendor/htmx.min.js").status_code == 404


def test_a_page_that_holds_the_grid_gets_the_bars_as_numbers_only(client):
    """The canvas says which unit grids its page shows; the answer then carries no tiles."""
    full = post_drawing(client, images.drawing("7"), seq=3)
    page = Elements(full.text)
    reading = page.one(id="reading")
    assert reading["data-grid"] == "16"
    data = {"image": (io.BytesIO(images.drawing("7")), "pad.png"), "seq": "4", "grid": "16"}
    lean = client.post("/predict", data=data, headers=HX)
    assert lean.status_code == 200
    fragment = Elements(lean.text)
    grid = fragment.one(data_testid="hidden-bars")
    assert grid["id"] == "unit-grid-1-16" and grid["data-bar-width"] == "0.7"
    assert "data-unit=" not in lean.text and fragment.one(id="reading")["data-seq"] == "4"
    # The same numbers the tiles of the full answer show.
    numbers = fragment.one(**{"class": "units"})
    labels = [a["aria-label"] for tag, a in page.elements if tag == "a" and "data-unit" in a]
    assert [f"Unit {i}: {v}" for i, v in enumerate(numbers["data-activations"].split())] == labels
    drawn = [a["d"] for tag, a in page.elements if a.get("class") == "bars"][0]
    heights = re.findall(r"v-([\d.]+)h", drawn)
    assert numbers["data-heights"].split() == heights and len(heights) == 16
    strong = [a["data-unit"] for tag, a in page.elements if a.get("class") == "unit is-strong"]
    assert sorted(numbers["data-strong"].split(), key=int) == strong
    # The teaching form and the model version are still there.
    assert fragment.one(data_testid="teach") and "Model version" in lean.text


@pytest.mark.parametrize("grid", ["", "256", "16-9", "junk"])
def test_a_page_with_another_grid_or_none_gets_the_tiles(client, grid):
    data = {"image": (io.BytesIO(images.drawing("7")), "pad.png"), "seq": "1", "grid": grid}
    response = client.post("/predict", data=data, headers=HX)
    assert response.status_code == 200 and response.text.count("data-unit=") == 16


def test_errors_and_blanks_keep_the_grid_too(client):
    for body in (images.blank(), b"not an image"):
        data = {"image": (io.BytesIO(body), "pad.png"), "seq": "2", "grid": "16"}
        response = client.post("/predict", data=data, headers=HX)
        assert "data-unit=" not in response.text
        assert 'data-heights="' + " ".join(["0.000"] * 16) + '"' in response.text
