"""``digits serve``'s server: gunicorn started through its application class.

Each worker builds its own app (``create_app``) after the fork, so no database
connection or model is shared across processes.
"""

from gunicorn.app.base import BaseApplication


class Server(BaseApplication):
    """gunicorn with ``options`` (gunicorn setting names) serving ``create_app()``."""

    def __init__(self, options):
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from . import create_app

        return create_app()
