"""The bad-input corpus: every endpoint that takes input, and the kinds of hostile input sent to it.

An ``Endpoint`` knows the valid request it would accept (the fields, and how
its image travels: a multipart file for the API, a ``data:`` URL field for
the page's own forms); a kind (``tests/hostile_kinds.py``) is a function
``(endpoint) -> request or None`` that spoils exactly one thing about that
request (None when the kind does not apply, a label kind to an endpoint that
takes no label). ``tests/test_hostile.py`` sends every (kind × endpoint) pair.
The bodies are built once, here, so the fuzz tests can reuse them.
"""

import gzip
import io
import struct
from dataclasses import dataclass, field
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
    Endpoint("admin-model-upload", "POST", "/admin/models/upload", {}, htmx=True, admin=True,
             required=False),
    Endpoint("admin-model-card", "GET", "/admin/models/{id}/card", {},
             takes=frozenset({"id"}), admin=True, ident="1"),
    Endpoint("admin-model-file", "GET", "/admin/models/{id}.npz", {},
             takes=frozenset({"id"}), admin=True, ident="1"),
    Endpoint("admin-cell", "GET", "/admin/runs/{id}/cell", {"true": "7", "read": "1"},
             takes=frozenset({"id"}), htmx=True, admin=True, ident="1"),

    Endpoint("admin-review", "GET", "/admin/review/", {"page": "1"},
             takes=frozenset({"page"}), htmx=True, admin=True),
    Endpoint("admin-review-one", "POST", "/admin/review/{id}", {"action": "accept"},
             takes=frozenset({"id"}), htmx=True, admin=True, ident="1"),
    Endpoint("admin-review-page", "POST", "/admin/review/page", {"action": "accept", "ids": "1"},
             htmx=True, admin=True),
    Endpoint("admin-review-all", "POST", "/admin/review/all", {"action": "reject",
                                                               "reason": "burst"},
             htmx=True, admin=True),
    Endpoint("admin-import", "POST", "/admin/samples/import", {"image": None, "label": "7"},
             "file", frozenset({"image", "label"}), htmx=True, admin=True),
    Endpoint("api-explain", "POST", "/api/v1/explain", {"image": None, "digit": "3"}, "file",
             frozenset({"image"}), json=True),
    Endpoint("api-dream", "GET", "/api/v1/dream/{id}", {}, takes=frozenset({"id"}), json=True,
             ident="3"),
    Endpoint("api-model", "GET", "/api/v1/models/{id}", {}, takes=frozenset({"id"}), json=True,
             ident="1"),
    Endpoint("dream-picture", "GET", "/dream/{id}.png", {}, takes=frozenset({"id"}), ident="3"),
    Endpoint("language", "POST", "/language", {"language": "es", "next": "/"}),
]
# The class routes' bad input (a wrong or ended code, a student of another class, nicknames
# too long or with markup, no CSRF token) is tested in tests/test_classroom*.py; this corpus
# does not reach them yet.
NOT_IN_CORPUS_PREFIXES = ("/admin/classes/", "/class/")
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
