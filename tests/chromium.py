"""How the browser tests and the web benchmark launch Chromium: Debian's, quiet, offline.

``tests.browser_setup.find_chromium`` picks the executable ($DIGITS_CHROMIUM,
a system Chromium, else Playwright's own download).
"""

import os

from tests.browser_setup import find_chromium

ARGS = ["--disable-background-networking", "--disable-component-update", "--no-first-run",
        "--disable-gpu"]


def launch_options(base=None):
    """Keyword arguments for ``chromium.launch``, extending ``base`` (pytest-playwright's)."""
    base = dict(base or {})
    args = [*base.get("args", []), *ARGS]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")    # Chromium refuses to run as root with its sandbox
    options = {**base, "args": args}
    executable = find_chromium()
    if executable:
        options["executable_path"] = executable
    return options
