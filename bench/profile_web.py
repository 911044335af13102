"""Where a reading's time goes (not a test): requests straight into the WSGI app, and each
stage of a reading on its own, for a profiler.

    python -m bench.profile_web [--requests 400] [--what api|page|bare|STAGE] [--cprofile]
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p python -m bench.profile_web ...

Run from the repository root. Each request is one WSGI call into the app as
gunicorn makes it (``create_app()`` with its defaults: request log on, a
fresh environ and body per call), so the count covers everything from
routing to the last header, and nothing of the HTTP server (identical for
the bare endpoint and the app). ``--what`` picks the request: ``api``
(``POST /api/v1/predict``, a raw canvas PNG), ``page`` (``POST /predict``,
the canvas's data URL as htmx sends it), ``bare`` (``bench.web``'s bare
Flask endpoint), or one stage of a reading alone: ``decode``, ``normalise``,
``network``, ``json``. ``counts`` runs each kind under callgrind, zeroes its
counters after the warm-up and dumps them after the last request, and prints
instructions per request; that is how docs/benchmarks.md's breakdown was made:

    python -m bench.profile_web counts [--requests 100] [--keep /tmp/cg] [api page bare ...]

``calls`` counts the Python function calls per request with cProfile, which
is exact and quick where callgrind (50× slower) is out of reach.
"""

import argparse
import cProfile
import io
import os
import pstats
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

from model import canvas
from tests.drawings import BASE

WHAT = ("api", "page", "bare", "decode", "normalise", "network", "json")


def canvas_png():
    """A 7 painted as the draw page paints it, sent as the page's canvas sends it (RGBA PNG)."""
    from PIL import Image

    lum = canvas.render(BASE["7"][1])
    rgba = np.dstack([lum, lum, lum, np.full_like(lum, 255)])
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, "PNG")
    return buffer.getvalue()


def environ(path, body, content_type, headers=()):
    from werkzeug.test import EnvironBuilder

    builder = EnvironBuilder(path=path, method="POST", data=body, content_type=content_type,
                             headers=list(headers), base_url="http://127.0.0.1:8000")
    env = builder.get_environ()
    env.pop("wsgi.input")
    return env


def requests(what, png):
    """A function making one request of kind ``what`` (see the module's docstring)."""
    import base64
    import urllib.parse

    from bench.web import PAGE_HEADERS, bare_app

    if what in ("decode", "normalise", "network", "json"):
        return stage(what, png)
    if what == "bare":
        app = bare_app()
        path, body, kind, headers = "/api/v1/predict", png, "image/png", ()
    else:
        from webapp import create_app

        app = create_app({"SECRET_KEY": "bench", "INSTANCE_PATH": tempfile.mkdtemp(),
                          "RATELIMIT_ENABLED": False})
        if what == "api":
            path, body, kind, headers = "/api/v1/predict", png, "image/png", ()
        else:
            import model

            sizes = model.load(model.PRETRAINED)[0].sizes     # the grid the page holds
            form = {"image": "data:image/png;base64," + base64.b64encode(png).decode(),
                    "seq": "7", "grid": "-".join(map(str, sizes[1:-1]))}
            path, body = "/predict", urllib.parse.urlencode(form).encode()
            kind, headers = "application/x-www-form-urlencoded", tuple(PAGE_HEADERS.items())
    base = environ(path, body, kind, headers)
    status = []

    def start_response(s, h, exc_info=None):
        status.append(s)

    def one():
        env = dict(base, **{"wsgi.input": io.BytesIO(body)})
        for chunk in app(env, start_response):
            pass
        return status.pop()

    assert one().startswith("200"), what
    return one


def stage(what, png):
    """One stage of a reading alone, on the same canvas PNG."""
    import orjson

    from webapp.core.served import Loaded
    from webapp.reading import api
    from webapp.reading.decode import decode
    from webapp.reading.normalise import normalise, read_digit

    import model

    lum = decode(png)
    image = normalise(lum).image
    net, meta = model.load(model.PRETRAINED)
    loaded = Loaded(net, meta, 1)
    reading = loaded.read(image)
    if what == "decode":
        return lambda: decode(png)
    if what == "normalise":
        return lambda: normalise(lum)
    if what == "network":
        return lambda: loaded.read(image)
    answer = {"digit": reading.digit, "probabilities": api.rounded(reading.probabilities, 6),
              "hidden": [api.rounded(h, 4) for h in reading.hidden],
              "input": api.rounded(reading.seen, 4)}
    del read_digit
    return lambda: orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)


def wait_for(path):
    while not os.path.exists(path):
        time.sleep(0.05)


def run(args):
    one = requests(args.what, canvas_png())
    for _ in range(20):                   # warm: templates compiled, caches filled
        one()
    if args.handshake:                    # ``counts`` zeroes callgrind's counters now
        open(args.handshake + ".ready", "w").close()
        wait_for(args.handshake + ".go")
    if args.cprofile:
        profile = cProfile.Profile()
        profile.enable()
    started = time.perf_counter()
    for _ in range(args.requests):
        one()
    seconds = time.perf_counter() - started
    if args.cprofile:
        profile.disable()
        pstats.Stats(profile, stream=sys.stderr).sort_stats(args.sort).print_stats(45)
    print(f"{args.what}: {1000 * seconds / args.requests:.3f} ms per request "
          f"({args.requests} requests)", file=sys.stderr)
    if args.handshake:                    # ... and dumps them now
        open(args.handshake + ".done", "w").close()
        wait_for(args.handshake + ".exit")


def instructions(what, n, keep=None):
    """Callgrind's instruction count of ``n`` requests of kind ``what``, after the warm-up.

    The counters are zeroed when the warm-up is done and dumped after the last
    request (``callgrind_control``), so start-up and imports do not count.
    ``keep`` copies the dump there (for ``callgrind_annotate``).
    """
    with tempfile.TemporaryDirectory() as tmp:
        out, hand = os.path.join(tmp, "cg.out"), os.path.join(tmp, "hand")
        process = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
             "-m", "bench.profile_web", "run", "--what", what, "--requests", str(n),
             "--handshake", hand], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(hand + ".ready")
            subprocess.run(["callgrind_control", "--zero", str(process.pid)], check=True,
                           capture_output=True)
            open(hand + ".go", "w").close()
            wait_for(hand + ".done")
            subprocess.run(["callgrind_control", "--dump", str(process.pid)], check=True,
                           capture_output=True)
            open(hand + ".exit", "w").close()
            process.wait(timeout=600)
        finally:
            if process.poll() is None:
                process.kill()
        dumps = sorted(f for f in os.listdir(tmp) if f.startswith("cg.out."))
        with open(os.path.join(tmp, dumps[0])) as f:
            text = f.read()
        if keep:
            with open(keep, "w") as f:
                f.write(text)
        return int(re.search(r"^(?:summary|totals): (\d+)", text, re.M).group(1))


def counts(args):
    for what in args.kinds:
        keep = f"{args.keep}.{what}" if args.keep else None
        total = instructions(what, args.requests, keep)
        print(f"{what:10s} {total / args.requests / 1e6:7.3f} M instructions per request",
              flush=True)


def calls(args):
    """Python function calls per request (cProfile's count: the same on any machine)."""
    png = canvas_png()
    for what in args.kinds:
        one = requests(what, png)
        for _ in range(20):
            one()
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.requests):
            one()
        profile.disable()
        total = pstats.Stats(profile).total_calls
        print(f"{what:10s} {total / args.requests:8.0f} Python function calls per request",
              flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="make the requests (under a profiler, if you like)")
    r.add_argument("--what", choices=WHAT, default="api")
    r.add_argument("--requests", type=int, default=400)
    r.add_argument("--cprofile", action="store_true", help="print cProfile's top functions")
    r.add_argument("--sort", default="tottime", help="cProfile's order (tottime, cumulative)")
    r.add_argument("--handshake", help=argparse.SUPPRESS)
    c = sub.add_parser("counts", help="instructions per request, by callgrind")
    c.add_argument("--requests", type=int, default=100)
    c.add_argument("--keep", help="keep each dump as KEEP.<kind> for callgrind_annotate")
    c.add_argument("kinds", nargs="*", default=list(WHAT))
    f = sub.add_parser("calls", help="Python function calls per request, by cProfile")
    f.add_argument("--requests", type=int, default=100)
    f.add_argument("kinds", nargs="*", default=list(WHAT))
    args = parser.parse_args(argv)
    {"run": run, "counts": counts, "calls": calls}[args.command](args)


if __name__ == "__main__":
    main()
