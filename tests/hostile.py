"""The bad-input corpus: every endpoint that takes input, and the kinds of hostile input sent to it.

An ``Endpoint`` knows the valid request it would accept (the fields, and how
its image travels: a multipart file for the API, a ``data:`` URL field for
the page's own forms); a kind is a function ``(endpoint) -> request or None``
that spoils exactly one thing about that request (None when the kind does
not apply, a label kind to an endpoint that takes no label). ``tests/test_hostile.py``
sends every (kind × endpoint) pair. The bodies are built once, here, so
the fuzz tests can reuse them.
"""

import base64
import gzip
import io
import struct
from dataclasses import dataclass, field, replace
from functools import cache

from PIL import Image

from tests import images
from tests.support import PASSWORD

BIG = 600 * 1024                   # over MAX_CONTENT_LENGTH (512 KiB)
LONG = 300 * 1024                  # under it: a field this long must still be read and refused
VERY_BIG_NUMBER = "99999999999999999999"     # over SQLite's and PostgreSQL's 64-bit integers


@dataclass(frozen=True)
class Endpoint:
    """One address that takes input, with the valid request a kind spoils.

    ``fields`` are the valid form fields; ``image_field`` names the one holding
    the drawing (sent as ``image_as``: "file" or "data_url"); ``path`` may hold
    ``{id}``, filled with ``ids[0]``. ``takes`` says which inputs it reads
    (image, label, number, id, page, password).
    """

    name: str
    method: str
    path: str
    fields: dict = field(default_factory=dict)
    image_as: str | None = None
    takes: frozenset = frozenset()
    json: bool = False             # errors as {"error": ...}
    htmx: bool = False
    admin: bool = False            # needs a logged-in session
    ident: str = ""                # the valid id in {id}
    required: bool = True          # without its fields the request is invalid


    def url(self, ident=None, query=""):
        path = self.path.format(id=self.ident if ident is None else ident)
        return path + (f"?{query}" if query else "")


TRAIN = {"start": "serving", "hidden": "16", "epochs": "1", "eta": "0.05", "batch_size": "128",
         "sample_weight": "1", "augment": "1"}

ENDPOINTS = [
    Endpoint("predict-page", "POST", "/predict", {"image": None, "seq": "1"}, "data_url",
             frozenset({"image"})),
    Endpoint("predict-htmx", "POST", "/predict", {"image": None, "seq": "1"}, "data_url",
             frozenset({"image"}), htmx=True),
    Endpoint("predict-form-file", "POST", "/predict", {"image": None}, "file",
             frozenset({"image"})),
    Endpoint("api-predict", "POST", "/api/v1/predict", {"image": None}, "file",
             frozenset({"image"}), json=True),
    Endpoint("api-samples", "POST", "/api/v1/samples", {"image": None, "label": "7"}, "file",
             frozenset({"image", "label"}), json=True),
    Endpoint("corrections", "POST", "/corrections", {"image": None, "label": "7"}, "data_url",
             frozenset({"image", "label"}), htmx=True),
    Endpoint("login", "POST", "/admin/login", {"password": PASSWORD, "next": "/admin/"},
             takes=frozenset({"password"})),
    Endpoint("admin-train", "POST", "/admin/runs", TRAIN, takes=frozenset({"number"}),
             htmx=True, admin=True),
    Endpoint("admin-relabel", "POST", "/admin/samples/{id}/label", {"label": "3"},
             takes=frozenset({"label", "id"}), htmx=True, admin=True, ident="1"),
    Endpoint("admin-delete", "POST", "/admin/samples/{id}/delete", {"page": "1"},
             takes=frozenset({"id", "page"}), htmx=True, admin=True, ident="1", required=False),
    Endpoint("admin-promote", "POST", "/admin/models/{id}/promote", {"force": "on"},
             takes=frozenset({"id"}), htmx=True, admin=True, ident="2", required=False),
    Endpoint("admin-rollback", "POST", "/admin/models/{id}/rollback", {},
             takes=frozenset({"id"}), htmx=True, admin=True, ident="2", required=False),
    Endpoint("admin-cancel", "POST", "/admin/runs/{id}/cancel", {},
             takes=frozenset({"id"}), htmx=True, admin=True, ident="1", required=False),
    Endpoint("admin-gallery", "GET", "/admin/samples", {"page": "1"},
             takes=frozenset({"page"}), htmx=True, admin=True),
    Endpoint("admin-dashboard", "GET", "/admin/", {"page": "1"},
             takes=frozenset({"page"}), admin=True),
    Endpoint("admin-run", "GET", "/admin/runs/{id}", {"seen": "queued"},
             takes=frozenset({"id"}), htmx=True, admin=True, ident="1"),
    Endpoint("neuron", "GET", "/neuron/{id}", {}, takes=frozenset({"id"}), htmx=True,
             ident="3"),
]
BY_NAME = {e.name: e for e in ENDPOINTS}


# -- bodies -----------------------------------------------------------------------------------

def good_png():
    return images.drawing("7")


def corrupt_png():
    """A well-formed PNG whose compressed pixels are garbage (valid chunk CRCs)."""
    header = struct.pack(">IIBBBBB", 64, 64, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + images.png_chunk(b"IHDR", header) + images.png_chunk(b"IDAT", b"\x78\x9c" +
            bytes(range(256)) * 4) + images.png_chunk(b"IEND", b""))


def bad_crc_png():
    png = bytearray(good_png())
    png[29] ^= 0xFF                  # the IHDR chunk's CRC
    return bytes(png)


def psd():
    return b"8BPS\x00\x01" + b"\x00" * 6 + struct.pack(">HIIHH", 1, 64, 64, 8, 1) + b"\x00" * 64


def encoded(fmt, mode="L", **options):
    return images.encode(Image.new(mode, (64, 64), 255), fmt, **options)


@cache
def gzip_bomb(size=100 * 2**20):
    return gzip.compress(b"\x00" * size, 9)


@cache
def deeply_nested_json(depth=100_000):
    return b"[" * depth + b"]" * depth


@cache
def bad_images():
    """(kind, bytes, message words) for images that must be refused, whichever way they come."""
    return [
        ("truncated-png", good_png()[:300], "truncated|corrupt"),
        ("corrupt-png", corrupt_png(), "truncated|corrupt"),
        ("bad-crc-png", bad_crc_png(), "truncated|corrupt"),
        ("bomb-png", images.bomb_png(), "megapixels"),
        ("huge-header-png", images.header_only_png(12000, 12000), "megapixels"),
        ("tiny-png", images.blank(1), "at least"),
        ("animated-png", images.animated_png(), "Animated"),
        ("truncated-jpeg", encoded("JPEG")[:200], "truncated|corrupt"),
        ("gif", encoded("GIF"), "GIF"),
        ("tiff", encoded("TIFF"), "TIFF"),
        ("svg", b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
         "SVG"),
        ("psd", psd(), "not a PNG or JPEG"),
        ("bmp", encoded("BMP"), "BMP"),
        ("webp", encoded("WEBP", "RGB"), "not a PNG or JPEG"),
        ("empty-image", b"", "empty"),
        ("text-not-image", b"hello, this is not a picture", "not a PNG or JPEG"),
        ("blank-canvas", images.blank(), "blank"),
    ]


# -- requests ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Hostile:
    """A request to send: ``client.open(path, **options())``."""

    method: str
    path: str
    data: object = None                 # dict (form/multipart) or bytes (raw body)
    content_type: str | None = None
    headers: dict = field(default_factory=dict)
    environ: dict = field(default_factory=dict)
    stream: bytes | None = None         # sent as a chunked body (no Content-Length)
    expect: str = ""                    # words the message must contain (a regex), if any
    heavy: bool = False                 # measure memory while it is answered

    def options(self):
        options = {"method": self.method, "headers": dict(self.headers),
                   "environ_overrides": dict(self.environ)}
        if self.stream is not None:
            options["input_stream"] = io.BytesIO(self.stream)
            options["environ_overrides"].update({"wsgi.input_terminated": True,
                                                 "HTTP_TRANSFER_ENCODING": "chunked"})
        elif self.data is not None:
            options["data"] = self.data
        if self.content_type:
            options["content_type"] = self.content_type
        return options


def carry(endpoint, fields):
    """``fields`` as the endpoint's form sends them: the image as a file or a data URL."""
    data = {}
    for name, value in fields.items():
        if name == "image" and isinstance(value, bytes):
            value = ((io.BytesIO(value), "drawing.png") if endpoint.image_as == "file"
                     else images.data_url(value))
        data[name] = value
    return data


def valid_fields(endpoint):
    return {name: (good_png() if name == "image" else value)
            for name, value in endpoint.fields.items()}


def request(endpoint, fields=None, query="", ident=None, **extra):
    """The endpoint's valid request with ``fields`` replacing (or, None values, dropping) some."""
    merged = valid_fields(endpoint)
    for name, value in (fields or {}).items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    if endpoint.method == "GET":
        query = "&".join(filter(None, [_query(merged), query]))
        return Hostile("GET", endpoint.url(ident, query), **extra)
    return Hostile(endpoint.method, endpoint.url(ident, query), carry(endpoint, merged), **extra)


def _query(fields):
    from urllib.parse import urlencode
    return urlencode(fields)


def raw(endpoint, body, content_type, query="", **extra):
    """A raw body instead of the form (the label, if any, still in the query like curl sends)."""
    if "label" in endpoint.fields and not query:
        query = "label=7"
    return Hostile(endpoint.method if endpoint.method != "GET" else "POST",
                   endpoint.url(None, query), body, content_type, **extra)


def posts(endpoint):
    return endpoint.method == "POST"


def needs_fields(endpoint):
    """A POST whose fields are required: spoiling or dropping them makes it invalid."""
    return posts(endpoint) and endpoint.required


# -- the kinds --------------------------------------------------------------------------------

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
        if endpoint.name == "neuron" and name in ("id-zero", "id-arabic"):
            return None             # unit 0 exists; Werkzeug's int converter reads "٣" as 3
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
