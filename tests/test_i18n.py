"""The pages' languages (webapp/i18n.py): which one a request gets, the switch, the numbers,
and the catalogues: complete, compiled, and covering every string the templates show.

A shipped catalogue fails here when a string is untranslated or fuzzy, when a translation
loses a placeholder or an HTML tag of its original, when its ``.mo`` is older than its
``.po`` (``make translations``), and when the code has a string the catalogue lacks. A
template fails when it shows text that no ``_()`` wraps.
"""

import re
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from jinja2 import Environment
from jinja2.ext import i18n as jinja_i18n

from tests import images
from tests.support import (
    HTTPS, HX, app_config, join_class, page_token, save_network, start_class)
from webapp import create_app, i18n

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = [code for code in i18n.LANGUAGES if code != i18n.DEFAULT]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|%%")
TAG = re.compile(r"</?([a-z]+)[^>]*>")


def catalogue(code):
    with open(ROOT / f"webapp/translations/{code}/LC_MESSAGES/messages.po", "rb") as f:
        return read_po(f, locale=code)


def messages(catalog):
    """{msgid: translation} of a catalogue, plural forms as tuples."""
    return {tuple(forms(m)): tuple(translations(m)) for m in catalog if m.id}


def forms(message):
    return list(message.id) if isinstance(message.id, (list, tuple)) else [message.id]


def translations(message):
    return list(message.string) if isinstance(message.string, (list, tuple)) \
        else [message.string]


# -- the catalogues -----------------------------------------------------------------------


@pytest.mark.parametrize("code", SHIPPED)
def test_every_string_of_a_shipped_catalogue_is_translated_and_reviewed(code):
    messages = [m for m in catalogue(code) if m.id]
    assert len(messages) > 200
    untranslated = [m.id for m in messages if not all(translations(m))]
    fuzzy = [m.id for m in messages if m.fuzzy]
    assert untranslated == [] and fuzzy == []


@pytest.mark.parametrize("code", SHIPPED)
def test_a_translation_keeps_its_placeholders_and_tags(code):
    wrong = []
    for m in catalogue(code):
        if not m.id:
            continue
        original = forms(m)[-1]
        for text in translations(m):
            if (sorted(PLACEHOLDER.findall(text)) != sorted(PLACEHOLDER.findall(original))
                    or sorted(TAG.findall(text)) != sorted(TAG.findall(original))):
                wrong.append((original, text))
    assert wrong == []


def source_strings():
    """Every msgid the code and templates hold, as ``make translations`` extracts them."""
    method_map = [("webapp/**.py", "python"), ("templates/**.html", "jinja2")]
    found = set()
    for _, _, message, _, _ in extract_from_dir(str(ROOT), method_map, keywords=KEYWORDS):
        found.add(message if isinstance(message, str) else message[0])
    return found


@pytest.mark.parametrize("code", SHIPPED)
def test_a_shipped_catalogue_has_every_string_of_the_code(code):
    known = {forms(m)[0] for m in catalogue(code) if m.id}
    assert sorted(source_strings() - known) == [], "run make translations, then translate"


@pytest.mark.parametrize("code", SHIPPED)
def test_the_compiled_catalogue_is_the_po_file(code):
    compiled = BytesIO()
    write_mo(compiled, catalogue(code))
    with open(ROOT / f"webapp/translations/{code}/LC_MESSAGES/messages.mo", "rb") as f:
        shipped = read_mo(f)
    compiled.seek(0)
    expected = read_mo(compiled)
    assert messages(shipped) == messages(expected), "run make translations"


# -- the templates ------------------------------------------------------------------------

# Text a template may show as it is: the name, a data set's, notation, arrows.
UNTRANSLATED = {"digits", "MNIST", "v", "σ", "w", "b", "max"}
VISIBLE_ATTRIBUTES = {"alt", "title", "aria-label", "placeholder", "hx-confirm", "content",
                      "label"}
SKIPPED_ELEMENTS = {"code", "pre", "script", "style"}
WORD = re.compile(r"[^\W\d_]{2,}")
ATTRIBUTE = re.compile(r'[\w-]+="[^"]*"')
PLAIN_WORD = re.compile(r"[^\W\d_]+[.,:;!?]?")


class VisibleText(HTMLParser):
    """The text and the visible attributes of an HTML page, outside ``<code>`` and the like."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.skipping = 0
        self.found = []

    def handle_starttag(self, tag, attrs):
        if tag in SKIPPED_ELEMENTS:
            self.skipping += 1
        attrs = dict(attrs)
        for name, value in attrs.items():
            if name in VISIBLE_ATTRIBUTES and value and (
                    tag != "meta" or attrs.get("name") == "description"):
                self.found.append(value)

    def handle_endtag(self, tag):
        if tag in SKIPPED_ELEMENTS:
            self.skipping = max(0, self.skipping - 1)

    def handle_data(self, data):
        if not self.skipping:     # a macro's attributes (aria-invalid="true") are no text
            self.found.append(ATTRIBUTE.sub(" ", data))


def template_text(source):
    """A template's literal text (what it shows whatever its data), with each Jinja
    expression or statement replaced by a blank, and the literal strings that Jinja
    expressions print without a translation call."""
    env = Environment(extensions=[jinja_i18n])
    literal, printed = [], []
    calls = []                      # the enclosing calls' names inside a {{ }} or {% %}
    last_name = None
    for _, kind, value in env.lex(source):
        if kind == "data":
            literal.append(value)
            continue
        literal.append(" ")
        if kind in ("variable_begin", "block_begin"):
            calls, last_name = [], None
        elif kind == "name":
            last_name = value
        elif kind == "operator" and value == "(":
            calls.append(last_name)
        elif kind == "operator" and value == ")":
            calls = calls[:-1]
        elif kind == "string" and not set(calls) & set(KEYWORDS):
            text = value[1:-1]                 # a sentence, not a class name or a key
            if sum(bool(PLAIN_WORD.fullmatch(w)) for w in text.split()) >= 2:
                printed.append(text)
    return "".join(literal), printed


def unwrapped(path):
    source = path.read_text()
    text, printed = template_text(re.sub(r"{#.*?#}", " ", source, flags=re.S))
    parser = VisibleText()
    parser.feed(text)
    words = [w for chunk in parser.found for w in WORD.findall(chunk)
             if w not in UNTRANSLATED]
    return words + printed


TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT / "templates")))
def test_a_template_shows_no_text_outside_a_translation(path):
    assert unwrapped(path) == []


def test_the_template_check_finds_unwrapped_text(tmp_path):
    page = tmp_path / "page.html"
    page.write_text('{% extends "base.html" %}<p class="x">{{ _("Fine") }} Not fine</p>'
                    '<img alt="A picture" src="{{ url }}"><code>digits serve</code>'
                    '{{ "Printed words" if x else _("Wrapped words") }}')
    assert unwrapped(page) == ["Not", "fine", "picture", "Printed words"]


# -- which language a request gets -----------------------------------------------------------


def switch(client, language, target="/"):
    """Press a language on the switch, as the page's form posts it (over https, with its token)."""
    return client.post("/language", data={"language": language, "next": target,
                                          "csrf_token": page_token(client)},
                       base_url=HTTPS, headers={"Referer": HTTPS + "/"})


def lang_of(response):
    return re.search(r'<html lang="([^"]+)"', response.text)[1]


@pytest.mark.parametrize("header, expected", [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh-Hans"),
    ("es-MX,es;q=0.9", "es"),
    ("fr-FR,de;q=0.7", "en"),
    ("de,es;q=0.5", "es"),
    ("", "en"),
])
def test_the_page_follows_accept_language(client, header, expected):
    assert lang_of(client.get("/", headers={"Accept-Language": header})) == expected


def test_the_switch_is_remembered_and_wins_over_the_browser(client):
    answer = switch(client, "es", "/neuron/3")
    assert answer.status_code == 303 and answer.headers["Location"] == "/neuron/3"
    cookie = next(c for c in answer.headers.getlist("Set-Cookie") if "digits_lang" in c)
    assert "digits_lang=es" in cookie and "Max-Age=31536000" in cookie and "HttpOnly" in cookie
    page = client.get("/neuron/3", headers={"Accept-Language": "zh-CN"}, base_url=HTTPS)
    assert lang_of(page) == "es" and "Unidad oculta 3" in page.text
    assert 'data-testid="language-es" aria-current="true"' in page.text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil",
                                    "javascript:alert(1)", ""])
def test_the_switch_goes_back_only_to_a_page_of_this_site(client, target):
    answer = switch(client, "zh", target)
    assert answer.status_code == 303 and answer.headers["Location"] == "/"


def test_an_unknown_language_is_refused_and_remembers_nothing(client):
    answer = switch(client, "xx")
    assert answer.status_code == 400 and "English, 简体中文, Español" in answer.text
    assert not any("digits_lang" in c for c in answer.headers.getlist("Set-Cookie"))


def test_the_switch_needs_the_pages_token(client):
    answer = client.post("/language", data={"language": "zh"}, base_url=HTTPS,
                         headers={"Referer": HTTPS + "/"})
    assert answer.status_code == 400
    assert not any("digits_lang" in c for c in answer.headers.getlist("Set-Cookie"))


def test_a_view_can_prefer_a_language_but_the_visitors_choice_wins(app):
    @app.get("/in-spanish")
    def in_spanish():
        i18n.prefer("es-MX")
        i18n.prefer("xx")               # unknown: ignored
        return i18n.current()

    client = app.test_client()
    assert client.get("/in-spanish", headers={"Accept-Language": "zh"}).text == "es"
    switch(client, "zh")
    assert client.get("/in-spanish", base_url=HTTPS).text == "zh"


def test_the_json_api_answers_in_english_whatever_the_browser_says(client):
    answer = client.post("/api/v1/predict", data=b"not an image",
                         headers={"Content-Type": "image/png", "Accept-Language": "zh-CN"})
    assert answer.status_code == 400
    assert answer.json["error"] == "This is not a PNG or JPEG image."


def test_an_error_page_speaks_the_page_language(client):
    answer = client.get("/neuron/999999", headers={"Accept-Language": "zh-CN"})
    assert answer.status_code == 404 and "没有隐藏单元 999999" in answer.text
    answer = client.post("/predict", data={"image": "data:image/png;base64,AAAA"},
                         headers={"Accept-Language": "es", "HX-Request": "true"})
    assert answer.status_code == 400 and "PNG" in answer.text and "imagen" in answer.text


def test_pages_vary_on_what_picks_their_language(client):
    vary = client.get("/").headers["Vary"]
    assert "Accept-Language" in vary and "Cookie" in vary


# -- numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize("code, shown", [
    ("en", ["97%", "<1%", ">99%", "97.31%", "60,000", "+0.35", "-1.20"]),
    ("es", ["97\xa0%", "<1\xa0%", ">99\xa0%", "97,31\xa0%", "60.000", "+0,35", "-1,20"]),
    ("zh", ["97%", "<1%", ">99%", "97.31%", "60,000", "+0.35", "-1.20"]),
])
def test_numbers_are_written_the_locales_way(app, code, shown):
    with app.test_request_context("/", headers={"Accept-Language": code}):
        assert [i18n.percent(0.9731), i18n.percent(0.001), i18n.percent(0.9996),
                i18n.percent2(0.97312), i18n.number(60000), i18n.signed(0.351),
                i18n.signed(-1.2)] == shown


@pytest.mark.parametrize("language, sure", [
    ("en", "It reads <strong>3</strong>, >99% sure."),
    ("es", "Lee un <strong>3</strong>, con un >99\xa0% de seguridad."),
    ("zh", "识别为 <strong>3</strong>，把握 >99%。"),
])
def test_the_reading_is_in_the_page_language_with_its_percentages(tmp_path, language, sure):
    bias = [0.0] * 10
    bias[3] = 12.0                       # a network that reads 3, >99 % sure, whatever it sees
    path = save_network(tmp_path / "fixed.npz", zero_weights=True, output_bias=bias)
    client = create_app(app_config(tmp_path / "instance", MODEL=str(path))).test_client()
    answer = client.post("/predict", data={"image": (BytesIO(images.drawing("3")), "pad.png")},
                         headers={**HX, "Accept-Language": language})
    assert answer.status_code == 200 and sure in answer.text.replace("&gt;", ">")


def test_outside_a_request_the_messages_are_english(app):
    with app.app_context():
        assert i18n.current() == "en" and i18n.number(60000) == "60,000"


# -- a class's language ------------------------------------------------------------------------


def test_a_class_speaks_its_teachers_language_over_the_browsers(app, admin):
    code = start_class(admin, language="zh_Hans")
    student = join_class(app, code, nickname="Ana")
    page = student.get(f"/class/{code}/draw", headers={"Accept-Language": "es"})
    assert page.status_code == 200 and lang_of(page) == "zh-Hans" and "你正在和" in page.text
    assert lang_of(admin.get(f"/admin/classes/{code}/", headers={"Accept-Language": "es"})) \
        == "zh-Hans"
    # the public draw page is not the class's: the browser's language there
    assert lang_of(student.get("/", headers={"Accept-Language": "es"})) == "es"


def test_a_student_who_chose_a_language_keeps_it_in_the_class(app, admin):
    code = start_class(admin, language="zh")
    student = join_class(app, code)
    switch(student, "es", f"/class/{code}/draw")
    page = student.get(f"/class/{code}/draw", base_url=HTTPS)
    assert lang_of(page) == "es" and "Estás dibujando con" in page.text


def test_the_teacher_chooses_the_class_language_from_the_shipped_ones(app, admin):
    code = start_class(admin)
    page = admin.get(f"/admin/classes/{code}/").text
    choice = re.search(r'<select id="class-language" name="language"[^>]*>(.*?)</select>', page,
                       re.S)[1]
    assert re.findall(r'<option value="(\w*)"', choice) == ["", "en", "zh", "es"]
