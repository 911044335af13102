"""``digits serve``'s server: gunicorn started through its application class.

Each worker builds its own app (``create_app``) after the fork, so no database
connection or model is shared across processes. Behind ``proxies`` trusted
reverse proxies (nginx, a load balancer) the app reads the visitor's address
and scheme from their ``X-Forwarded-For``/``-Proto`` headers (Werkzeug's
``ProxyFix``): the login throttle and the samples' rate limit count per
visitor, not per proxy. With none, those headers are ignored, since anyone can
send them.
"""

from gunicorn.app.base import BaseApplication
from werkzeug.middleware.proxy_fix import ProxyFix


class Server(BaseApplication):
    """gunicorn with ``options`` (gunicorn setting names) serving ``create_app()``."""

    def __init__(self, options, proxies=0):
        self.options = options
        self.proxies = proxies
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from . import create_app

        app = create_app()
        if self.proxies:
            app.wsgi_app = ProxyFix(app.wsgi_app, x_for=self.proxies, x_proto=self.proxies,
                                    x_host=self.proxies)
        return app
