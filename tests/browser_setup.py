"""Find a Chromium for the browser tests, installing one if none is found.

Order: ``$DIGITS_CHROMIUM``, a system Chromium on PATH, Playwright's own
download. Run as ``python -m tests.browser_setup`` (``make test`` does) to
install one when missing: Debian/Ubuntu's package when running as root with
apt-get, else ``playwright install chromium``. The test fixtures call
``find_chromium()`` and use whatever it returns.
"""

import os
import shutil
import subprocess
import sys

SYSTEM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium():
    """Path of a Chromium executable, or None to let Playwright use its own download."""
    explicit = os.environ.get("DIGITS_CHROMIUM")
    if explicit:
        return explicit
    for name in SYSTEM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def playwright_has_browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        return os.path.exists(p.chromium.executable_path)


def install():
    if find_chromium() or playwright_has_browser():
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("browser_setup: installing Debian's chromium with apt-get", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    else:
        print("browser_setup: downloading Playwright's chromium", flush=True)
        subprocess.run([sys.executable, "-m", "playwright", "install", "chromium"], check=True)


if __name__ == "__main__":
    install()
    print(f"browser_setup: using {find_chromium() or 'Playwright chromium'}")
