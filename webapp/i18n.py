"""The pages' language: Flask-Babel, the gettext catalogues, the language switch, numbers.

Every page speaks one of ``LANGUAGES``. Which one, for a request, in order:

1. the visitor's own choice, made with the switch on the page (``POST /language``)
   and remembered in the ``LANGUAGE_COOKIE`` cookie for a year;
2. a language a view prefers for its pages (a class's language): a view or a
   ``before_request`` hook calls ``prefer(code)``;
3. the browser's ``Accept-Language``;
4. English.

The JSON API (``/api/``) always answers in English, whatever the request says:
its error messages are part of a contract that scripts read and match.

The catalogues live in ``webapp/translations/<code>/LC_MESSAGES/messages.po``;
the compiled ``.mo`` beside them are committed (``make translations`` rebuilds
them, and a test fails when one is older than its ``.po``). Templates get
``_``, ``gettext`` and ``ngettext`` from Flask-Babel, and the filters
``percent``, ``percent2``, ``number`` and ``signed`` format numbers the locale's way. This
module is a leaf: it imports nothing from ``webapp``.
"""

import functools
from copy import copy
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, abort, g, has_request_context, redirect, request, url_for
from markupsafe import Markup
from flask_babel import (Babel, format_decimal, format_percent, get_locale, get_translations,
                         gettext, refresh)

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
# code → the language's own name, as the switch shows it.
LANGUAGES = {"en": "English", "zh": "简体中文", "es": "Español"}
# The <html lang> of each: "zh" alone does not say which script.
HTML_LANG = {"en": "en", "zh": "zh-Hans", "es": "es"}
DEFAULT = "en"
LANGUAGE_COOKIE = "digits_lang"
COOKIE_SECONDS = 365 * 24 * 3600

bp = Blueprint("i18n", __name__)
babel = Babel()


def init_app(app):
    babel.init_app(app, locale_selector=select_locale, default_locale=DEFAULT,
                   default_translation_directories=str(TRANSLATIONS))
    # The templates' translation functions, one call each (every template here is HTML,
    # autoescaped): as Jinja's own "newstyle" ones, without their three layers of calls.
    app.jinja_env.globals.update(_=template_gettext, gettext=template_gettext,
                                 ngettext=template_ngettext)
    app.register_blueprint(bp)
    app.after_request(vary_on_language)
    app.context_processor(language_context)
    app.add_template_filter(percent)
    app.add_template_filter(percent2)
    app.add_template_filter(number)
    app.add_template_filter(signed)


def select_locale():
    """The request's language code (see the module's docstring for the order); English
    outside a request (the ``digits`` command's messages)."""
    if not has_request_context() or request.path.startswith("/api/"):
        return DEFAULT
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    preferred = g.get("preferred_locale")
    if preferred in LANGUAGES:
        return preferred
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT


_catalogues = {}       # language code → its catalogue (the files never change while serving)


def catalogue():
    """The request's catalogue, for the templates' ``_`` and ``ngettext``. The same one
    Flask-Babel's ``get_translations`` returns, kept per language: finding it through
    Flask-Babel costs about 15 µs a string, and a live reading with its panels has about 50."""
    locale = get_locale()       # chosen once per request; prefer() makes it choose again
    code = locale.language if locale is not None else DEFAULT
    found = _catalogues.get(code)
    if found is None:
        found = _catalogues[code] = get_translations()
    return found


def template_gettext(string, **variables):
    """``_('…')`` in a template: the translation, marked safe, its ``%(name)s`` filled in
    escaped (Jinja's newstyle gettext, for an autoescaped template)."""
    return Markup(catalogue().ugettext(string)) % variables


def template_ngettext(singular, plural, num, **variables):
    """``ngettext('…', '…', n)`` in a template; ``%(num)s`` is ``n`` unless given."""
    variables.setdefault("num", num)
    return Markup(catalogue().ungettext(singular, plural, num)) % variables


def prefer(code):
    """Make ``code`` this request's language unless the visitor chose one with the switch.

    For pages that belong to something with a language of its own (a class): call it
    before rendering, e.g. from the area's ``before_request``. ``code`` is a key of
    ``LANGUAGES`` or a tag that starts with one ("zh-Hans", "es_MX"); an unknown one is
    ignored.
    """
    code = str(code or "").replace("_", "-").split("-")[0].lower()
    if code in LANGUAGES:
        g.preferred_locale = code
        refresh()           # Flask-Babel keeps the locale it already chose for this request


def current():
    """The code of the language this request speaks: a key of ``LANGUAGES``."""
    locale = get_locale()
    return locale.language if locale is not None and locale.language in LANGUAGES else DEFAULT


def language_context():
    code = current()
    return {"languages": LANGUAGES, "language": code, "html_lang": HTML_LANG[code],
            "html_langs": HTML_LANG}


def vary_on_language(response):
    """Pages differ by language, so a cache must key them on what picks it."""
    if response.mimetype == "text/html":
        response.vary.add("Accept-Language")
        response.vary.add("Cookie")
    return response


def percent(p):
    """0.9731 → "97%" ("97 %" in Spanish); the extremes read "<1%" and ">99%"
    (nothing here is ever certain). Babel's own rounding (half to even, on the
    number's decimal digits); each language's 101 answers are kept, since a reading
    shows a dozen of them."""
    if p < 0.005:
        return whole_percent(current(), "<")
    if p >= 0.995:
        return whole_percent(current(), ">")
    hundredths = Decimal(repr(float(p))).scaleb(2).to_integral_value(ROUND_HALF_EVEN)
    return whole_percent(current(), int(hundredths))


@functools.lru_cache(maxsize=len(LANGUAGES) * 104)
def whole_percent(code, n):
    """``n`` % in language ``code`` (the request's), or "<1%" for "<" and ">99%" for ">"."""
    if n == "<":
        return "<" + format_percent(0.01)
    if n == ">":
        return ">" + format_percent(0.99)
    return format_percent(n / 100)


def percent2(p, digits=2):
    """An accuracy with ``digits`` decimals, the locale's way: 0.97312 → "97.31%"
    ("97,31 %" in Spanish)."""
    pattern = copy(get_locale().percent_formats[None])
    pattern.frac_prec = (digits, digits)
    return pattern.apply(p, get_locale())


def number(value, digits=None):
    """A count or a measure with the locale's separators: 60000 → "60,000"."""
    if digits is None:
        return format_decimal(value)
    return format_decimal(value, "#,##0." + "0" * digits if digits else "#,##0")


def signed(value, digits=2):
    """A weight with its sign and ``digits`` decimals: 0.351 → "+0.35" ("+0,35" in Spanish)."""
    places = "0" * digits
    return format_decimal(value, f"+#,##0.{places};-#,##0.{places}")


def safe_next(target):
    """``target`` if it is a path on this site, else the draw page: never an open redirect."""
    parts = urlsplit(target or "")
    if parts.scheme or parts.netloc or not parts.path.startswith("/") \
            or parts.path.startswith("//") or "\\" in target:
        return url_for("draw.index")
    return target


@bp.post("/language")
def choose():
    """The switch: remember the chosen language and go back to the page it was made on."""
    codes = request.form.getlist("language")
    code = codes[0] if len(codes) == 1 else ""
    if code not in LANGUAGES:
        abort(400, gettext("Choose one of the languages the page offers: %(names)s.",
                           names=", ".join(LANGUAGES.values())))
    response = redirect(safe_next(request.form.get("next")), code=303)
    response.set_cookie(LANGUAGE_COOKIE, code, max_age=COOKIE_SECONDS, samesite="Lax",
                        httponly=True, secure=request.is_secure)
    return response
