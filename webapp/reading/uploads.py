"""The uploaded image's bytes, however a request carries them.

One place for both the page and the JSON API: a raw ``image/png`` or
``image/jpeg`` body, a multipart field ``image`` (a file, as curl ``-F`` sends
it), or a form field ``image`` holding a ``data:`` URL (what the canvas sends
through htmx). ``source=photo`` says it is a photo of paper, not a
drawing (``is_photo``). Anything else is refused with the status and message the
``ImageError`` family carries; decoding the bytes is ``decode``'s job.
"""

import base64
import binascii

from flask import request
from flask_babel import gettext
from werkzeug.exceptions import RequestEntityTooLarge

from .decode import ImageError, UnsupportedImage

RAW_TYPES = ("image/png", "image/jpeg", "image/jpg")
DATA_URL_PREFIXES = ("data:image/png;base64,", "data:image/jpeg;base64,")
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
FIELD = "image"
SOURCES = ("drawing", "photo")     # the field or query parameter ``source``; a drawing by default


def image_bytes():
    """The current request's image as bytes; raises ``ImageError`` saying how to send it."""
    mimetype = request.mimetype
    if mimetype in RAW_TYPES:
        data = request.get_data(cache=False)
        # A chunked body (no Content-Length) is cut at the limit, not refused: refuse it here.
        if request.max_content_length is not None and len(data) >= request.max_content_length:
            raise RequestEntityTooLarge()
        return data
    if mimetype in FORM_TYPES:
        if len(request.files.getlist(FIELD)) + len(request.form.getlist(FIELD)) > 1:
            raise ImageError(gettext("The field %(field)s came more than once: send one image.",
                                     field=repr(FIELD)))
        upload = request.files.get(FIELD)
        if upload is not None:
            return upload.read()
        if FIELD in request.form:
            return from_data_url(request.form[FIELD])
        raise ImageError(gettext("No image: send it as the form field %(field)s.",
                                 field=repr(FIELD)))
    raise UnsupportedImage(gettext(
        "Content-Type %(type)s is not accepted: send the image as an image/png or image/jpeg "
        "body, or as the multipart/form-data field %(field)s.", type=mimetype or "(none)",
        field=repr(FIELD)))


def is_photo():
    """Whether the image is a photo of paper (``source=photo``), read by ``photo.read_photo``.

    A query parameter or form field; anything but the two ``SOURCES`` is a 400.
    """
    source = request.args.get("source") or request.form.get("source") or "drawing"
    if source not in SOURCES:
        raise ImageError(f"source must be one of {', '.join(SOURCES)}, not {source[:20]!r}.")
    return source == "photo"


def refuse_cut_body():
    """``before_request``: a chunked body (no Content-Length) over the limit is a 413.

    Werkzeug stops reading such a body at ``MAX_CONTENT_LENGTH`` and parses what it
    read as if it were all: a form cut at 512 KiB would be taken for a whole one.
    Read it once here (at most the limit; the form parser reuses it) and refuse it
    when it filled the limit.
    """
    limit = request.max_content_length
    if limit is None or request.content_length is not None or \
            "chunked" not in request.headers.get("Transfer-Encoding", "").lower():
        return
    if len(request.get_data(cache=True)) >= limit:
        raise RequestEntityTooLarge()


def from_data_url(value):
    """A base64 ``data:image/png`` or ``data:image/jpeg`` URL → its bytes."""
    prefix = next((p for p in DATA_URL_PREFIXES if value.startswith(p)), None)
    if prefix is None:
        raise UnsupportedImage("The field must hold a data:image/png;base64 or "
                               "data:image/jpeg;base64 URL.")
    try:
        return base64.b64decode(value[len(prefix):], validate=True)
    except (binascii.Error, ValueError):
        raise ImageError(gettext("The data URL is not valid base64.")) from None
