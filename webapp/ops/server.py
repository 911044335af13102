"""``digits serve``: gunicorn started through its application class, and its settings.

Each worker builds its own app (``create_app``) after the fork, so no database
connection or model is shared across processes. Behind ``proxies`` trusted
reverse proxies (nginx, a load balancer) the app reads the visitor's address
and scheme from their ``X-Forwarded-For``/``-Proto`` headers (Werkzeug's
``ProxyFix``): the login throttle and the samples' rate limit count per
visitor, not per proxy. With none, those headers are ignored, since anyone can
send them. A port already taken is refused before gunicorn starts, naming the
port and the option that picks another. This is an entry point: it calls
``create_app``, and the package never imports it (``cli`` adds ``serve``).
"""

import errno
import logging
import os
import socket

import click
from flask.cli import with_appcontext
from gunicorn.app.base import BaseApplication
from threadpoolctl import threadpool_limits
from werkzeug.middleware.proxy_fix import ProxyFix

from .. import create_app
from ..config import Config
from ..security import trusted_hosts
from ..teaching import worker


# Why gthread: gunicorn's sync workers each serve one connection at a time, so two clients
# that send their headers slowly (a phone on bad Wi-Fi, or on purpose) left every worker
# waiting and the site unanswered for 30 s. A gthread worker keeps idle and kept-alive
# connections in a poller and gives a thread only to a connection that has sent bytes: a
# request dripped a byte a second holds one thread, not the worker. THREADS per worker is
# how many such connections a worker outlasts while still answering everyone else; the
# forward pass is NumPy, short, and fine on threads. Past that, a buffering proxy in front
# (nginx) is the answer: it passes only complete requests on (README: serving in production).
THREADS = Config.setting("THREADS").default
TIMEOUT = 30            # s a worker may go silent (stuck) before the arbiter replaces it
GRACEFUL_TIMEOUT = 20   # s a stopping worker has to finish the requests it is serving
# s an idle connection stays open. Longer than a visitor's pause between two digits, and
# than a proxy's idle upstream connections (nginx: keepalive_timeout in the upstream block,
# README): a server that closes an idle connection just as the client sends on it loses
# that request (the load test saw it at 5 s when the machine stalled).
KEEPALIVE = 20


def default_workers():
    """One worker per core this process may run on ($DIGITS_WORKERS overrides)."""
    if Config.value("WORKERS"):
        return Config.value("WORKERS")
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:      # not on Linux
        return os.cpu_count() or 1


def gunicorn_options(host, port, workers, threads=THREADS):
    """gunicorn's settings for ``digits serve``; the web benchmark serves its baseline alike.

    No access log: the app logs each request itself, with its timing (webapp/ops/requestlog.py).
    """
    return {"bind": f"{host}:{port}", "workers": workers, "worker_class": "gthread",
            "threads": threads, "timeout": TIMEOUT, "graceful_timeout": GRACEFUL_TIMEOUT,
            "keepalive": KEEPALIVE,
            # gunicorn 25's control socket is one path per user ($HOME/.gunicorn/gunicorn.ctl):
            # two instances on one host would fight over it, and nothing here uses it.
            "control_socket_disable": True}


def gunicorn_args(host, port, workers, app="webapp:create_app()", threads=THREADS):
    """The same settings as a gunicorn command line (for the benchmark's subprocesses)."""
    options = gunicorn_options(host, port, workers, threads)
    return ["--bind", options["bind"], "--workers", str(options["workers"]),
            "--worker-class", options["worker_class"], "--threads", str(options["threads"]),
            "--timeout", str(options["timeout"]),
            "--graceful-timeout", str(options["graceful_timeout"]),
            "--keep-alive", str(options["keepalive"]), "--no-control-socket", app]


def serving_app():
    """The app as a web worker serves it (gunicorn loads it in each worker, after the fork).

    One BLAS thread per worker: a worker reads one drawing at a time (readings take
    turns), and the workers already use every core, so more threads only fight over
    them. A reading's product with 784-800-10's weights took twice as long on two.
    """
    threadpool_limits(1, user_api="blas")
    return create_app()


class Server(BaseApplication):
    """gunicorn with ``options`` (gunicorn setting names) serving ``create_app()``."""

    def __init__(self, options, proxies=0, host=None):
        self.options = options
        self.proxies = proxies
        self.host = host
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        app = serving_app()
        if self.host is not None and not app.config["TRUSTED_HOSTS_SET"]:
            # Unset TRUSTED_HOSTS means the names of the address served: --host's, not HOST's.
            app.config["TRUSTED_HOSTS"] = trusted_hosts(None, self.host)
        if self.proxies:
            app.wsgi_app = ProxyFix(app.wsgi_app, x_for=self.proxies, x_proto=self.proxies,
                                    x_host=self.proxies)
        return app


@click.command("serve")
@click.option("--host", default=lambda: Config.value("HOST"),
              show_default="127.0.0.1 or $DIGITS_HOST")
@click.option("--port", type=click.IntRange(0, 65535), default=lambda: Config.value("PORT"),
              show_default="8000 or $DIGITS_PORT")
@click.option("--workers", type=click.IntRange(1), default=default_workers,
              show_default="the number of cores, or $DIGITS_WORKERS")
@click.option("--threads", type=click.IntRange(1),
              default=lambda: Config.value("THREADS"),
              show_default=f"{THREADS} or $DIGITS_THREADS",
              help="Threads per worker: how many slow connections each outlasts.")
@click.option("--proxies", type=click.IntRange(0),
              default=lambda: Config.value("PROXIES"),
              show_default="0 or $DIGITS_PROXIES",
              help="Trusted reverse proxies in front (nginx: 1): take the visitor's address "
                   "and scheme from X-Forwarded-For/-Proto.")
@click.option("--no-worker", is_flag=True, help="Start no training worker (run `digits worker` "
                                                 "elsewhere).")
@with_appcontext
def serve_command(host, port, workers, threads, proxies, no_worker):
    """Run the web app under gunicorn, and one training worker beside it (started again if
    it dies).

    SIGTERM stops it gracefully: the web workers finish the requests in
    flight (up to 20 s), then the training worker is stopped (a run in
    flight is marked failed) and waited for.
    """
    refuse_taken_port(host, port)
    supervisor = None
    if not no_worker:
        supervisor = worker.Supervisor(logging.getLogger("gunicorn.error"))
        supervisor.start()
    try:
        Server(gunicorn_options(host, port, workers, threads), proxies=proxies, host=host).run()
    finally:
        if supervisor is not None:
            supervisor.stop()


def refuse_taken_port(host, port):
    """Stop with a message naming the port (and ``--port``) when something else holds it.

    gunicorn alone retries for a while and then says only "Can't connect". The
    probe binds the address the way gunicorn will (``SO_REUSEADDR``), then lets go.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise click.ClickException(
                    f"Port {port} on {host} is already in use (another digits serve, or another "
                    f"program). Choose another with --port (e.g. digits serve --port "
                    f"{port + 1 if port < 65535 else 8001}) or $DIGITS_PORT.") from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise click.ClickException(
                    f"Cannot listen on {host}: it is not an address of this machine. Choose "
                    f"another with --host.") from None
            raise
