"""Driving Chromium for the browser tests and the web benchmark: launching it, drawing on the pad.

``tests.browser_setup.find_chromium`` picks the executable ($DIGITS_CHROMIUM,
a system Chromium, else Playwright's own download); it runs quiet and offline.
Strokes are lists of (x, y) points in pad units (0..1, y down), as in
``tests.drawings``.
"""

import base64
import os
from pathlib import Path

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


# True once the page shows the reading of its newest drawing: the server echoes
# the canvas's own count of drawings sent as #reading's data-seq.
ANSWERED = """() => {
  const reading = document.querySelector("#reading");
  return reading && reading.dataset.seq === document.querySelector("#reader [name=seq]").value;
}"""


def to_screen(page, stroke):
    """Pad units → page coordinates of the points of ``stroke``."""
    box = page.locator("#pad").bounding_box()
    return [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in stroke]


def draw(page, strokes, steps=4):
    """Move the mouse along each stroke with the button down, as a person draws."""
    for stroke in strokes:
        points = to_screen(page, stroke)
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=steps)
        page.mouse.up()


# A page's CSP violations and pointer types, for ``page.add_init_script``.
WATCH_CSP = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
    e => window.cspViolations.push(e.violatedDirective + " " + e.blockedURI));
window.pointerTypes = [];
document.addEventListener("pointerdown", e => window.pointerTypes.push(e.pointerType), true);
"""


def answer(page):
    """Wait for the reading of the newest drawing; returns the digit shown ("" for none)."""
    page.wait_for_function(ANSWERED)
    return page.get_by_test_id("prediction").inner_text().strip()


# -- accessibility: axe-core from npm (package.json devDependencies), run in the page ----------

AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page, rules_off=()):
    """axe-core's WCAG 2.x A/AA violations on the page as it is now: [(rule, [targets])].

    The script comes from ``node_modules`` (``npm ci`` installs it) and is run by
    the DevTools protocol, so the page's own Content-Security-Policy stays as served.
    """
    if not page.evaluate("() => !!window.axe"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    found = page.evaluate("""async (off) => {
      const rules = Object.fromEntries(off.map(id => [id, {enabled: false}]));
      const result = await axe.run(document, {
        runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
        rules, resultTypes: ["violations"]});
      return result.violations.map(v => [v.id, v.nodes.map(n => n.target.join(" ")).slice(0, 5)]);
    }""", list(rules_off))
    return [tuple(v) for v in found]

def open_pad(page, url):
    """Load the page with console and CSP watchers; returns the list problems land in."""
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.add_init_script(WATCH_CSP)
    response = page.goto(url)
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_function("() => window.htmx && document.querySelector('#reading')")
    return problems


def sent_png(page):
    """The PNG bytes of the newest drawing the page sent (the form's data URL)."""
    url = page.locator("#reader [name=image]").input_value()
    return base64.b64decode(url.split(",", 1)[1])


def sent_input(page, net):
    """The input vector (784,) ``net`` multiplies for the newest drawing the page sent."""
    import model
    from webapp.reading.normalise import read_digit

    return model.inputs(net, read_digit(sent_png(page)).image[None])[0]
