"""The defences every area shares: headers (a strict CSP, HSTS on https), the Host names the
app answers to, the secret key, CSRF, private files, and text made safe to log.

``csrf`` is Flask-WTF's ``CSRFProtect``, bound by ``init_app``; a view that takes
no cookies or changes nothing declares it with ``@csrf.exempt`` beside its
route (the canvas's reading, the JSON API). ``trusted_hosts`` makes Flask's
``TRUSTED_HOSTS`` list: a request naming another host is a 400, so no redirect
or absolute URL ever points at a name an attacker chose. The instance folder
is 0700 and what is made in it 0600 from the moment it exists (``private_folder``,
``create_private``): it holds the admin's password hash, every upload and the
secret key. This module imports nothing from ``webapp``.
"""

import os
import secrets
import socket
from urllib.parse import urlsplit

from flask import request
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

# On https only (a browser ignores it on http): stay on https for a year. No
# includeSubDomains: other sites under the operator's domain are not ours to bind.
STRICT_TRANSPORT_SECURITY = "max-age=31536000"
LOOPBACK_NAMES = ("localhost", "127.0.0.1")
WILDCARD_ADDRESSES = ("", "0.0.0.0", "::", "[::]")

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
    headers = SECURITY_HEADERS
    if request.is_secure:          # behind a proxy: its X-Forwarded-Proto (digits serve --proxies)
        headers = {**headers, "Strict-Transport-Security": STRICT_TRANSPORT_SECURITY}
    for name, value in headers.items():
        if name.lower() not in present:
            response.headers.add(name, value)
    return response


# -- the names the app answers to ------------------------------------------------------------

def trusted_hosts(setting, host):
    """Flask's ``TRUSTED_HOSTS`` from the ``TRUSTED_HOSTS`` setting and the address served.

    ``setting``: names separated by commas (``.example.org`` also takes its subdomains),
    ``*`` for any name (None: Flask checks nothing), or unset: the loopback names and
    ``host``; a wildcard ``host`` (0.0.0.0) adds this machine's name and addresses, so a
    classroom reaching the teacher's machine by its address still gets in. Werkzeug 3.1
    compares the part of a name before its first colon, so an IPv6 address cannot be listed.
    """
    if isinstance(setting, (list, tuple, set)):
        return list(setting)
    if setting:
        names = [name.strip() for name in setting.split(",") if name.strip()]
        return None if "*" in names else names
    names = list(LOOPBACK_NAMES)
    extra = this_machine_names() if host in WILDCARD_ADDRESSES else [host]
    return names + [name for name in extra if name not in names and ":" not in name]


def this_machine_names():
    """This machine's host name, its fully qualified name and the addresses they resolve to,
    and the address it reaches the network from (no packet is sent)."""
    names = [socket.gethostname(), socket.getfqdn()]
    try:
        names += [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)]
    except OSError:
        pass
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))       # TEST-NET-1: only picks the route
            names.append(probe.getsockname()[0])
    except OSError:
        pass
    return list(dict.fromkeys(name.lower() for name in names if name))


# -- what is logged ------------------------------------------------------------------------

def printable(text):
    """``text`` with every character that could forge or garble a log line escaped as Python
    writes it (a line feed as ``\\n``, U+2028 as ``\\u2028``, ESC as ``\\x1b``), the
    backslash too, so an escape in the log always means the request carried that character."""
    text = str(text)
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(c if c.isprintable() and c != "\\" else c.encode("unicode_escape").decode()
                   for c in text)


# -- private files -------------------------------------------------------------------------

def private_folder(path):
    """Make the folder ``path`` (0700) if missing; a folder left 0755 by an older digits is
    closed to other users too (what is inside was made before this rule)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)


def create_private(path):
    """Create the file ``path`` empty and 0600 if it does not exist: never readable by others,
    not for a moment (SQLite then opens it as an empty database, and gives its -wal and
    -shm files the same mode)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def private_opener(path, flags):
    """``open(path, mode, opener=private_opener)``: a file it creates is 0600."""
    return os.open(path, flags, 0o600)


def instance_secret_key(instance):
    """A random key made once into ``instance/secret_key`` and reused by every worker.

    Published with a hard link so concurrent workers never read a half-written key.
    """
    path = instance / "secret_key"
    if not path.exists():
        private_folder(instance)
        tmp = instance / f"secret_key.{os.getpid()}.tmp"
        with open(tmp, "x", opener=private_opener) as out:      # 0600 from the start
            out.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()
