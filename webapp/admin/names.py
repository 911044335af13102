"""The dashboard's words for values the database stores in English: a run's status and
phase, a version's origin, a drawing's source and review state, a setting's and a styled
digit's name.

The worker and the registry write these as plain English identifiers (they are read
by scripts and logs too); the templates show them in the page's language through the
functions here, registered as template globals by ``init_app``. A value with no
translation is shown as stored.
"""

import re

from flask_babel import gettext
from flask_babel import lazy_gettext as _l

STATUS = {"queued": _l("queued"), "running": _l("running"), "succeeded": _l("succeeded"),
          "failed": _l("failed"), "cancelled": _l("cancelled")}
# What retraining.py, runs.py and worker.py write as a running run's phase.
PHASES = {"waiting for a worker": _l("Waiting for a worker"),
          "loading MNIST": _l("Loading MNIST"),
          "loading collected samples": _l("Loading the collected drawings"),
          "evaluating": _l("Evaluating"), "saving": _l("Saving"), "done": _l("Done"),
          "cancelling at the end of this epoch": _l("Cancelling at the end of this epoch"),
          "cancelled": _l("Cancelled"), "failed": _l("Failed")}
EPOCH_PHASE = re.compile(r"epoch (\d+) of (\d+)")
SETTINGS = {"hidden": _l("hidden units"), "epochs": _l("epochs"), "eta": _l("learning rate"),
            "batch_size": _l("batch size"), "augment": _l("augment"),
            "include_samples": _l("include the collected drawings"),
            "sample_weight": _l("sample weight"), "start": _l("start from")}
STATES = {"new": _l("new"), "accepted": _l("accepted"), "rejected": _l("rejected")}
SOURCES = {"page": _l("draw page"), "api": _l("API"), "import": _l("import"), "admin": _l("admin")}
STYLES = {"crossed 7": _l("crossed 7"), "1 with a flag": _l("1 with a flag"),
          "1 with flag and foot": _l("1 with flag and foot"),
          "9 with a curled tail": _l("9 with a curled tail")}
RUN_ORIGIN = re.compile(r"run (\d+)")


def run_status(status):
    return STATUS.get(status, status)


def run_phase(phase, epoch, epochs):
    """A running run's phase as a sentence: "Epoch 3 of 4", "Evaluating"."""
    if not phase:
        return gettext("Epoch %(epoch)s of %(epochs)s", epoch=epoch + 1, epochs=epochs)
    match = EPOCH_PHASE.fullmatch(phase)
    if match:
        return gettext("Epoch %(epoch)s of %(epochs)s", epoch=match[1], epochs=match[2])
    return PHASES.get(phase, phase)


def origin_name(origin):
    """A model version's origin: "shipped", "run 3", or the file it was imported from."""
    if origin == "shipped":
        return gettext("shipped")
    match = RUN_ORIGIN.fullmatch(origin or "")
    if match:
        return gettext("run %(id)s", id=match[1])
    return origin


def sample_state(state):
    return STATES.get(state, state)


def source_name(source):
    return SOURCES.get(source, source)


def setting_name(name):
    return SETTINGS.get(name, name.replace("_", " "))


def style_name(name):
    return STYLES.get(name.replace("_", " "), name.replace("_", " "))


def init_app(app):
    app.add_template_global(run_status)
    app.add_template_global(origin_name)
    app.add_template_global(source_name)
    app.add_template_global(sample_state)
    app.add_template_global(setting_name)
    app.add_template_global(style_name)
