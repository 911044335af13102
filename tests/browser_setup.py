"""Find a Chromium for the browser tests, installing one if none is found, and CJK fonts.

Order: ``$DIGITS_CHROMIUM``, a system Chromium on PATH, Playwright's own
download. Run as ``python -m tests.browser_setup`` (``make test`` does) to
install one when missing: Debian/Ubuntu's package when running as root with
apt-get, else ``playwright install chromium``. The test fixtures call
``find_chromium()`` and use whatever it returns.

The pages ship in Simplified Chinese too, and a browser without a CJK font draws
each Chinese character as an empty box: as root with apt-get, Debian's
``fonts-noto-cjk`` is installed when fontconfig knows no CJK font
(``has_cjk_font()``, which the Chinese browser tests check).
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


def has_cjk_font():
    """Whether fontconfig has a font that covers Simplified Chinese."""
    if not shutil.which("fc-list"):
        return False
    listed = subprocess.run(["fc-list", ":lang=zh-cn", "family"], capture_output=True,
                            text=True, check=False)
    return bool(listed.stdout.strip())


def can_apt():
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")


def apt_install(*packages):
    print(f"browser_setup: installing {' '.join(packages)} with apt-get", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
                   check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def install():
    if not (find_chromium() or playwright_has_browser()):
        if can_apt():
            apt_install("chromium")
        else:
            print("browser_setup: downloading Playwright's chromium", flush=True)
            subprocess.run([sys.executable, "-m", "playwright", "install", "chromium"],
                           check=True)
    if not has_cjk_font():
        if can_apt():
            apt_install("fonts-noto-cjk")
        else:
            print("browser_setup: no CJK font and no apt-get as root: the Chinese pages' "
                  "browser tests will fail (install fonts-noto-cjk)", flush=True)


if __name__ == "__main__":
    install()
    print(f"browser_setup: using {find_chromium() or 'Playwright chromium'}"
          f"{', a CJK font' if has_cjk_font() else ', NO CJK font'}")
