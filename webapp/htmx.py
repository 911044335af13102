"""What htmx adds to a request: the one test for "is this an htmx request?".

The page's fragments (``reading``, ``admin``) answer htmx with a partial and a
browser navigating with a whole page or a redirect; both ask ``is_htmx()``.
This module imports nothing from ``webapp``.
"""

from flask import request

HEADER = "HX-Request"


def is_htmx():
    """True when htmx sent the current request (it sets ``HX-Request: true``)."""
    return request.headers.get(HEADER) == "true"


def vary_on_htmx(response):
    """``after_request``: the same URL answers htmx with a fragment and a browser with a page,
    so caches keep them apart."""
    response.vary.add(HEADER)
    return response
