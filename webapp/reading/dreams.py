"""What the network dreams, cached per model version: ``model.dream`` for the served model.

A dream is gradient ascent on the input (``model.dream``): about 0.25 s of CPU
for one digit on the shipped model, so each process keeps the dreams it made
for the version it serves (on ``app.extensions``, per flaskr's rule that state
lives on the app) and makes each at most once: concurrent askers for the same
digit wait for the one computing it. A promotion changes the version, and the
previous version's dreams are dropped when the first new one is stored.
"""

import threading
from dataclasses import dataclass, field

from flask import abort, current_app
from flask_babel import gettext

from model import dream

EXTENSION = "digits_dreams"


@dataclass
class DreamCache:
    """Dreams by (model version, digit), and one lock per key being computed."""

    dreams: dict = field(default_factory=dict)
    computing: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, loaded, digit):
        key = (loaded.version, digit)
        with self.lock:
            found = self.dreams.get(key)
            if found is not None:
                return found
            making = self.computing.setdefault(key, threading.Lock())
        with making:
            with self.lock:
                found = self.dreams.get(key)
            if found is None:
                found = dream.dream(loaded.net, digit)
                with self.lock:
                    for old in [k for k in self.dreams if k[0] != loaded.version]:
                        del self.dreams[old]
                    self.dreams[key] = found
                    self.computing.pop(key, None)
            return found


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
