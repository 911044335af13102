"""What the network dreams, cached per model version: ``model.dreams`` for the served model.

Dreams are gradient ascent on the input (``model.dream``). The ten are made
together, in one batch, the first time any is asked for: about 0.3 s of CPU on
the shipped model, where ten asked one by one cost more than twice that, and
the page's folded list asks for all ten at once (ten requests on two cores made
one at a time took 5-10 s each). Each process keeps the dreams it made for the
version it serves (on ``app.extensions``, per flaskr's rule that state lives on
the app) and makes them at most once: concurrent askers wait for the one making
them. A promotion changes the version, and the previous version's dreams are
dropped when the new ones are stored.
"""

import threading
from dataclasses import dataclass, field

from flask import abort, current_app
from flask_babel import gettext

from model import dream

EXTENSION = "digits_dreams"


@dataclass
class DreamCache:
    """The ten dreams by model version, and one lock per version being dreamt."""

    dreams: dict = field(default_factory=dict)
    making: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, loaded, digit):
        version = loaded.version
        with self.lock:
            found = self.dreams.get(version)
            if found is None:
                making = self.making.setdefault(version, threading.Lock())
        if found is None:
            with making:
                with self.lock:
                    found = self.dreams.get(version)
                if found is None:
                    found = dream.dreams(loaded.net)
                    with self.lock:
                        self.dreams = {version: found}
                        self.making.pop(version, None)
        return found[digit]


def digit_of(value):
    """A URL's digit ("0" to "9") as an int; anything else is a 404 that names the range."""
    if value not in tuple("0123456789"):
        abort(404, gettext("There is no digit %(value)s: the network dreams of the digits 0 "
                           "to 9.", value=repr(value)))
    return int(value)


def get_dream(loaded, digit):
    """``model.dream.Dream`` of ``digit`` under the ``core.served.Loaded`` model, cached."""
    return current_app.extensions[EXTENSION].get(loaded, digit)


def init_app(app):
    app.extensions[EXTENSION] = DreamCache()
