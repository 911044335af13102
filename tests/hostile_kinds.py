"""The kinds of hostile input: each a function ``(endpoint) -> request or None`` that spoils
exactly one thing about the valid request ``hostile`` builds for an endpoint (None when the
kind does not apply). ``cases()`` pairs every kind with every endpoint, for
``tests/test_hostile.py``.
"""

import base64
from dataclasses import replace

from tests import images
from tests.hostile import (
    BIG, ENDPOINTS, LONG, TRAIN, VERY_BIG_NUMBER, Hostile, _query, bad_images, carry,
    deeply_nested_json, encoded, good_png, gzip_bomb, needs_fields, posts, raw, request,
    valid_fields)

KINDS = {}


def kind(name):
    def register(build):
        KINDS[name] = build
        return build
    return register


def image_kind(name, body, words):
    @kind(name)
    def build(endpoint):
        if "image" not in endpoint.takes:
            return None
        if name == "blank-canvas" and "label" not in endpoint.takes:
            return None             # reading a blank canvas is fine ("Draw a digit"); storing it is not
        return request(endpoint, {"image": body}, expect=words, heavy=name.startswith(
            ("bomb", "huge")))


for _name, _body, _words in bad_images():
    image_kind(_name, _body, _words)


@kind("raw-gif-body")
def _(endpoint):
    if not posts(endpoint):
        return None
    return raw(endpoint, encoded("GIF"), "image/gif")


@kind("raw-bomb-body")
def _(endpoint):
    if not posts(endpoint):
        return None
    return raw(endpoint, images.bomb_png(), "image/png", heavy=True)


@kind("data-url-bad-base64")
def _(endpoint):
    if "image" not in endpoint.takes:
        return None
    return request(endpoint, {"image": "data:image/png;base64,iVBORw0KGgo***not base64***"},
                   expect="base64")


@kind("data-url-wrong-type")
def _(endpoint):
    if "image" not in endpoint.takes:
        return None
    return request(endpoint, {"image": "data:text/html;base64," + base64.b64encode(
        b"<script>alert(1)</script>").decode()}, expect="data:image/png")


@kind("image-as-plain-field")
def _(endpoint):
    """The PNG's bytes in a text field instead of a file or a data URL."""
    if "image" not in endpoint.takes:
        return None
    return Hostile("POST", endpoint.url(), {**carry(endpoint, valid_fields(endpoint)),
                                            "image": good_png().decode("latin-1")})


@kind("zero-bytes")
def _(endpoint):
    if not needs_fields(endpoint):
        return None
    return Hostile("POST", endpoint.url(), b"")


@kind("wrong-content-type")
def _(endpoint):
    if not posts(endpoint):
        return None
    return raw(endpoint, good_png(), "text/plain", expect="Content-Type|form|image" if
               endpoint.json else "")


@kind("json-body")
def _(endpoint):
    if not posts(endpoint):
        return None
    fields = {k: (images.data_url(v) if isinstance(v, bytes) else v)
              for k, v in valid_fields(endpoint).items()}
    import json
    return raw(endpoint, json.dumps(fields).encode(), "application/json")


@kind("deeply-nested-json")
def _(endpoint):
    if not posts(endpoint):
        return None
    return raw(endpoint, deeply_nested_json(), "application/json", heavy=True)


@kind("multipart-no-boundary")
def _(endpoint):
    if not needs_fields(endpoint):
        return None
    return raw(endpoint, b"--x\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nabc\r\n"
               b"--x--\r\n", "multipart/form-data")


@kind("oversized-body")
def _(endpoint):
    if not posts(endpoint):
        return None
    return request(endpoint, {"padding": "x" * BIG}, expect="too large", heavy=True)


@kind("oversized-raw-body")
def _(endpoint):
    if not posts(endpoint):
        return None
    return raw(endpoint, b"\x89PNG\r\n\x1a\n" + b"\x00" * BIG, "image/png", expect="too large",
               heavy=True)


@kind("lying-content-length")
def _(endpoint):
    """A Content-Length of a gigabyte on a small body: refused before anything is read."""
    if not posts(endpoint):
        return None
    hostile = request(endpoint)
    return replace(hostile, environ={"CONTENT_LENGTH": str(2**30)}, expect="too large")


@kind("chunked-over-limit")
def _(endpoint):
    if not posts(endpoint):
        return None
    return Hostile("POST", endpoint.url(None, "label=7" if "label" in endpoint.fields else ""),
                   content_type="image/png" if endpoint.json else
                   "application/x-www-form-urlencoded",
                   stream=(b"\x89PNG\r\n\x1a\n" if endpoint.json else b"label=") + b"7" * BIG,
                   expect="too large", heavy=True)


@kind("gzip-encoded-body")
def _(endpoint):
    """A small gzip body that inflates to 100 MB, marked Content-Encoding: gzip."""
    if not posts(endpoint):
        return None
    return replace(raw(endpoint, gzip_bomb(), "image/png"), headers={"Content-Encoding": "gzip"},
                   heavy=True)


@kind("many-form-parts")
def _(endpoint):
    if not posts(endpoint):
        return None
    fields = {**carry(endpoint, valid_fields(endpoint)), **{f"f{i}": "1" for i in range(5000)}}
    return Hostile("POST", endpoint.url(), fields, content_type="multipart/form-data",
                   expect="too large|too many")


@kind("odd-field-names")
def _(endpoint):
    if not needs_fields(endpoint):
        return None
    renamed = {}
    for i, (name, value) in enumerate(valid_fields(endpoint).items()):
        odd = (f"{name}[]", name.upper(), f"{name}\x00", f" {name}", f"{name}.x")[i % 5]
        renamed[odd] = value
    return Hostile("POST", endpoint.url(), carry(endpoint, renamed))


@kind("duplicate-fields")
def _(endpoint):
    """Every field twice with different values: two images, two labels, two of each number."""
    if not needs_fields(endpoint):
        return None
    other = {"image": images.drawing("1"), "label": "1", "password": "PASSWORD-again",
             "start": "scratch", "epochs": "2", "page": "2"}
    pairs = []
    for name, value in carry(endpoint, valid_fields(endpoint)).items():
        pairs += [(name, value), (name, carry(endpoint, {name: other.get(name, "2")})[name])]
    from werkzeug.datastructures import MultiDict
    return Hostile("POST", endpoint.url(), MultiDict(pairs), expect="once|one")


@kind("very-long-fields")
def _(endpoint):
    if not endpoint.fields or (posts(endpoint) and not endpoint.required):
        return None
    long = {name: ("7" * LONG if name != "image" else "data:image/png;base64," + "A" * LONG)
            for name in endpoint.fields}
    if endpoint.method == "GET":
        return request(endpoint, {name: v[:4000] for name, v in long.items()})
    return request(endpoint, long, heavy=True)


@kind("non-utf8-fields")
def _(endpoint):
    if not needs_fields(endpoint):
        return None
    body = "&".join(f"{name}=%FF%FE%80{name}" for name in endpoint.fields).encode()
    return Hostile("POST", endpoint.url(), body, "application/x-www-form-urlencoded")


@kind("non-utf8-body")
def _(endpoint):
    if not needs_fields(endpoint):
        return None
    return Hostile("POST", endpoint.url(), b"\xff\xfe\x00\x81=\xc3\x28&\xe2\x82=\x80",
                   "application/x-www-form-urlencoded")


@kind("huge-query-string")
def _(endpoint):
    """The fields moved to a 200 kB query string, the body empty."""
    fields = {k: (images.data_url(v) if isinstance(v, bytes) else v)
              for k, v in valid_fields(endpoint).items()}
    query = _query({**fields, "padding": "q" * 200_000})
    if endpoint.method == "GET":
        return Hostile("GET", endpoint.url(None, _query({"padding": "q" * 200_000, "page":
                                                           "9" * 4000})))
    if not endpoint.required:
        return None
    if "label" in fields:           # the API may take the label from the query: spoil it too
        query = _query({**fields, "label": "7" * 200_000})
    return Hostile("POST", endpoint.url(None, query), {})


@kind("wrong-method")
def _(endpoint):
    return Hostile({"POST": "PUT", "GET": "DELETE"}[endpoint.method], endpoint.url(),
                   expect="method")


def label_kind(name, value):
    @kind(name)
    def build(endpoint):
        if "label" not in endpoint.takes:
            return None
        return request(endpoint, {"label": value}, expect="one digit from 0 to 9")


for _name, _value in [("label-minus-one", "-1"), ("label-ten", "10"), ("label-1e9", "1e9"),
                      ("label-nan", "NaN"), ("label-arabic-three", "\u0663"),
                      ("label-empty", ""), ("label-leading-space", " 7"),
                      ("label-nul", "7\x00"), ("label-fullwidth-seven", "\uff17"),
                      ("label-missing", None)]:
    label_kind(_name, _value)


def number_kind(name, values, words):
    @kind(name)
    def build(endpoint):
        if "number" not in endpoint.takes:
            return None
        return request(endpoint, values, expect=words)


for _name, _values, _words in [
        ("epochs-negative", {"epochs": "-1"}, "Epochs must be"),
        ("epochs-zero", {"epochs": "0"}, "Epochs must be"),
        ("epochs-1e9", {"epochs": "1e9"}, "Epochs must be"),
        ("epochs-huge", {"epochs": "9" * 5000}, "Epochs must be"),
        ("epochs-arabic", {"epochs": "\u0663"}, "Epochs must be"),
        ("hidden-underscore", {"hidden": "1_000"}, "Hidden units must be"),
        ("eta-nan", {"eta": "NaN"}, "Learning rate must be"),
        ("eta-infinite", {"eta": "inf"}, "Learning rate must be"),
        ("eta-zero", {"eta": "0"}, "Learning rate must be"),
        ("batch-size-float", {"batch_size": "12.5"}, "Batch size must be"),
        ("start-unknown", {"start": "../../etc/passwd"}, "Start from must be"),
        ("no-settings-at-all", {name: None for name in TRAIN}, "settings")]:
    number_kind(_name, _values, _words)


def id_kind(name, ident, words=""):
    @kind(name)
    def build(endpoint):
        if "id" not in endpoint.takes:
            return None
        if endpoint.name in ("neuron", "api-dream", "dream-picture") and name in (
                "id-zero", "id-arabic"):
            return None             # unit and digit 0 exist; Werkzeug's int converter reads "٣" as 3
        return request(endpoint, ident=ident, expect=words)


for _name, _ident in [("id-zero", "0"), ("id-negative", "-1"), ("id-huge", VERY_BIG_NUMBER),
                      ("id-word", "abc"), ("id-missing", ""), ("id-float", "1.5"),
                      ("id-arabic", "\u0663"), ("id-absent-row", "4242")]:
    id_kind(_name, _ident)


def page_kind(name, value):
    """A page number to read; a delete's ``page`` only says which page to show afterwards."""
    @kind(name)
    def build(endpoint):
        if "page" not in endpoint.takes or endpoint.method != "GET":
            return None
        return request(endpoint, {"page": value})


for _name, _value in [("page-negative", "-5"), ("page-zero", "0"), ("page-word", "abc"),
                      ("page-huge", VERY_BIG_NUMBER), ("page-1e9", "1e9")]:
    page_kind(_name, _value)


@kind("password-nul-bytes")
def _(endpoint):
    if "password" not in endpoint.takes:
        return None
    return request(endpoint, {"password": "PASSWORD\x00"}, expect="not right")


@kind("next-elsewhere")
def _(endpoint):
    """A wrong password with an open-redirect ``next``: refused, and never a redirect."""
    if "password" not in endpoint.takes:
        return None
    return request(endpoint, {"password": "wrong", "next": "https://evil.example/admin"},
                   expect="not right")


def cases():
    """Every (kind, endpoint, request) that applies."""
    for kind_name, build in KINDS.items():
        for endpoint in ENDPOINTS:
            hostile = build(endpoint)
            if hostile is not None:
                yield kind_name, endpoint, hostile
