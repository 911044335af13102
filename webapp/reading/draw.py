"""The draw page, its live-prediction fragment, the "inside the network" view, and htmx.

``GET /`` is the page; ``POST /predict`` reads the canvas (sent by htmx about
every 150 ms while drawing) and answers with ``partials/_prediction.html``;
without ``HX-Request`` it answers with the whole page, so an image uploaded
by a plain form works too. With ``source=photo`` the image is a photo of a
digit on paper (``photo``), and the reading shows what was kept of it. ``GET /neuron/<i>`` shows hidden unit ``i``'s
incoming weights, as a fragment for the page's panel or as a page of its own.
``GET /vendor/htmx.min.js`` serves htmx from ``node_modules`` (installed by
``npm ci``), so nothing is fetched from a CDN or copied into the repository.
"""

import functools
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from flask import Blueprint, abort, current_app, render_template, request, send_from_directory
from flask_babel import gettext
from markupsafe import Markup

from .. import errors, i18n
from ..core.served import get_model, takes_turns
from ..htmx import is_htmx, vary_on_htmx
from ..security import csrf
from . import pictures, readout, why
from .decode import ImageError
from .limits import budgeted_reading
from .normalise import read_digit
from .photo import read_photo
from .uploads import image_bytes, is_photo

bp = Blueprint("draw", __name__)
bp.after_request(vary_on_htmx)


@bp.app_template_filter("a_digit")
def a_digit(digit, bold=True):
    """8 → "an <strong>8</strong>", 3 → "a <strong>3</strong>": the article a digit's name takes."""
    article = "an" if int(digit) == 8 else "a"
    return Markup(f"{article} <strong>{int(digit)}</strong>") if bold else f"{article} {int(digit)}"


@bp.app_template_global("teach_form")
def teach_form(digit, class_code=None):
    """The "Did it read your digit right?" buttons under a reading of ``digit``
    (``partials/_teach.html``), on a class's page when ``class_code``. They depend only
    on these, the language and where the app is mounted, so each is rendered once."""
    return _teach_form(i18n.current(), request.script_root, class_code or None, int(digit))


@functools.lru_cache(maxsize=1024)
def _teach_form(language, script_root, class_code, digit):
    return Markup(render_template("partials/_teach.html", r=SimpleNamespace(digit=digit),
                                  class_code=class_code))


DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@bp.app_template_filter("digit_name")
def digit_name(digit):
    """3 → "3 (three)": the digit in words too, for text alternatives read aloud."""
    return f"{int(digit)} ({DIGIT_NAMES[int(digit)]})"


@bp.get("/")
def index():
    return render_template("index.html", r=readout.blank())


@bp.post("/predict")
@csrf.exempt                  # reading a drawing changes nothing: no token
@errors.htmx_fragment(lambda message: readout.render_fragment(readout.failed(message)))
@budgeted_reading
@takes_turns
def predict():
    seq = sequence_number()
    loaded, panels = get_model(), ""
    try:
        kept_url = None
        if is_photo():
            digit, kept = read_photo(image_bytes())
            kept_url = pictures.png_data_url(kept.round().astype(np.uint8))
        else:
            digit = read_digit(image_bytes())
        reading = None if digit.image is None else loaded.read(digit.image)
        result = readout.read(loaded, digit, current_app.config["UNSURE_BELOW"], seq, reading,
                              photo_url=kept_url)
        status = 200
    except ImageError as exc:
        result, status = readout.failed(str(exc), seq), exc.status
    else:
        if is_htmx():
            panels = why.live_panels(loaded, reading)      # "" unless the page asks why
    if is_htmx():
        return readout.render_fragment(result) + panels, status
    return render_template("index.html", r=result), status


def sequence_number():
    """The canvas's own count of the drawings it sent, echoed so the page can tell them apart."""
    if request.mimetype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return 0
    return max(0, request.form.get("seq", 0, type=int))


@bp.get("/neuron/<int:unit>")
def neuron(unit):
    loaded = get_model()
    try:
        weights = loaded.unit_weights(unit)
    except IndexError:
        abort(404, gettext("There is no hidden unit %(unit)s: the first hidden layer has "
                           "units 0 to %(last)s.", unit=unit, last=loaded.net.sizes[1] - 1))
    template = "partials/_neuron.html" if is_htmx() else "neuron.html"
    return render_template(template, unit=unit, units=loaded.net.sizes[1],
                           weights_url=pictures.weights_data_url(weights),
                           votes=vote_bars(loaded.unit_votes(unit)))


def vote_bars(votes):
    """A unit's weights to the ten digits (10,) → (value, top, height) per digit, or None.

    Bars stand on the middle line of a viewBox "0 -1 1 2", up for a vote for
    the digit, down for a vote against, scaled by the unit's largest vote.
    """
    if votes is None:
        return None
    scale = float(np.abs(votes).max()) or 1.0
    return [(float(v), round(min(0.0, -v / scale), 3), round(abs(v) / scale, 3)) for v in votes]


@bp.get("/vendor/htmx.min.js")
def htmx():
    directory = Path(current_app.config["NODE_MODULES"]) / "htmx.org" / "dist"
    if not (directory / "htmx.min.js").is_file():
        current_app.logger.error("htmx is missing from %s: run `npm ci` in the project root",
                                 directory)
        abort(404)
    return send_from_directory(directory, "htmx.min.js", max_age=3600)


def init_app(app):
    """The page's views, and the reading's own errors: ``decode.ImageError`` carries its status."""
    app.register_error_handler(ImageError, errors.handle_with_status)
    app.register_blueprint(bp)
    app.register_blueprint(why.bp)
