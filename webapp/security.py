"""The browser-facing defences: security headers (a strict CSP), the secret key, CSRF.

``csrf`` is Flask-WTF's ``CSRFProtect``, bound by ``init_app``; a view that takes
no cookies or changes nothing declares it with ``@csrf.exempt`` beside its
route (the canvas's reading, the JSON API). This module imports nothing from
``webapp``.
"""

import os
import secrets
from urllib.parse import urlsplit

from flask_wtf.csrf import CSRFProtect

# A strict policy the page is built for: no inline script or style anywhere,
# images from the app or data: URLs (the 28×28 pictures), no framing.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
                           "form-action 'self'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

csrf = CSRFProtect()


def init_app(app):
    csrf.init_app(app)
    app.after_request(add_security_headers)


def cross_site_refusal(headers, host):
    """Why a browser's request from another site is refused, or None when it is not one.

    Browsers say where a request comes from: ``Sec-Fetch-Site`` (every current
    browser) and ``Origin`` (on every POST). A request sent by a page of another
    site is refused; one with neither header (curl, scripts, servers) is not a
    browser's and goes through, as does the site's own page. Only the host is
    compared (a proxy may end https before the app).
    """
    site = headers.get("Sec-Fetch-Site", "").lower()
    origin = headers.get("Origin")
    if site in ("cross-site", "same-site"):
        where = f"from {origin}" if origin else "from a page of another site"
    elif origin is not None and urlsplit(origin).netloc.lower() != (host or "").lower():
        where = f"from {origin}"
    else:
        return None
    return (f"This request came {where}: a browser on another site may not change anything "
            f"here. Send it from a script or server (no Origin header), or from this site.")


def add_security_headers(response):
    """The headers above, where a view did not set its own. One pass over the response's
    headers: Werkzeug raises (and catches) an exception for each absent one it looks up."""
    present = {name.lower() for name in response.headers.keys()}
    for name, value in SECURITY_HEADERS.items():
        if name.lower() not in present:
            response.headers.add(name, value)
    return response


def instance_secret_key(instance):
    """A random key made once into ``instance/secret_key`` and reused by every worker.

    Published with a hard link so concurrent workers never read a half-written key.
    """
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        tmp = instance / f"secret_key.{os.getpid()}.tmp"
        tmp.write_text(secrets.token_hex(32))
        tmp.chmod(0o600)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()
