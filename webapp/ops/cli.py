"""The ``digits`` command: a Flask CLI group, so every command runs in the app's context.

    digits train --hidden 256 --epochs 150 --out model/pretrained.npz
    digits evaluate [MODEL] [--json]
    digits serve [--host 127.0.0.1] [--port 8000] [--workers N] [--threads 256] [--proxies 1]

``digits …`` is ``flask --app webapp …``: the same app, configuration and
database. Tests call the commands through ``app.test_cli_runner()``. Training
settings and their defaults come from ``model.train.TrainConfig`` alone.
"""

import json
import os
import sys
from datetime import datetime, timezone

import click
from flask.cli import FlaskGroup

import model
from model import mnist, styles, train

DEFAULTS = train.TrainConfig()


def data_options(command):
    """``--data-dir`` and ``--no-download``, for every command that reads MNIST."""
    command = click.option(
        "--no-download", "download", is_flag=True, flag_value=False, default=True,
        help="Never fetch missing MNIST files (by default they are downloaded from public "
             "mirrors, or $DIGITS_MNIST_MIRROR, and SHA-256 checked).")(command)
    return click.option(
        "--data-dir", type=click.Path(file_okay=False),
        help="Directory with the four MNIST idx .gz files (default: $DIGITS_DATA_DIR, "
             "else ~/.cache/digits/mnist).")(command)


def load_data(data_dir, download):
    try:
        return mnist.load(data_dir, download=download)
    except mnist.DataError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("train")
@click.option("--hidden", type=int, multiple=True, default=DEFAULTS.hidden, show_default=True,
              help="Hidden layer size; repeat for more layers.")
@click.option("--activation", type=click.Choice(["sigmoid", "relu"]),
              default=DEFAULTS.activation, show_default=True)
@click.option("--epochs", type=click.IntRange(1), default=DEFAULTS.epochs, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=DEFAULTS.batch_size,
              show_default=True)
@click.option("--eta", type=click.FloatRange(0, min_open=True), default=DEFAULTS.eta,
              show_default=True, help="Peak learning rate.")
@click.option("--momentum", type=click.FloatRange(0, 1, max_open=True),
              default=DEFAULTS.momentum, show_default=True)
@click.option("--weight-decay", type=click.FloatRange(0), default=DEFAULTS.weight_decay,
              show_default=True)
@click.option("--schedule", type=click.Choice(["cosine", "constant"]),
              default=DEFAULTS.schedule, show_default=True)
@click.option("--augment/--no-augment", default=DEFAULTS.augment, show_default=True,
              help="Distort the training images afresh every epoch.")
@click.option("--deskew/--no-deskew", default=DEFAULTS.deskew, show_default=True)
@click.option("--seed", type=int, default=DEFAULTS.seed, show_default=True)
@click.option("--forms", "drawings", type=click.IntRange(0), default=0, show_default=True,
              help="Also train on this many generated drawings of the world's digit forms "
                   "(webapp.forms; the shipped model: 6000).")
@click.option("--forms-exclude", "exclude", multiple=True,
              type=click.Choice(["american", "british", "european", "indian", "east_asian"]),
              help="Leave this tradition's own forms out of the drawings (repeatable).")
@click.option("--out", type=click.Path(dir_okay=False), default="model.npz", show_default=True,
              help="Where to write the model.")
@data_options
def train_command(out, data_dir, download, drawings, exclude, **settings):
    """Train a network on MNIST (and generated drawings of digit forms) and save it."""
    from tqdm import tqdm

    config = train.TrainConfig(**{**settings, "hidden": tuple(settings["hidden"])})
    data = load_data(data_dir, download)
    bar = tqdm(total=config.epochs, unit="epoch", desc="training")

    def on_epoch(r, _net):
        bar.set_postfix(loss=f"{r['loss']:.4f}", val=f"{r['val_accuracy']:.4f}")
        bar.write(f"epoch {r['epoch']:3d}  eta {r['eta']:.4f}  loss {r['loss']:.4f}  "
                  f"train {r['train_accuracy']:.4f}  val {r['val_accuracy']:.4f}  "
                  f"{r['seconds']:.1f}s")
        bar.update()

    net, metadata = train_model(config, data, drawings, exclude, on_epoch)
    bar.close()
    model.save(out, net, metadata)
    metrics = metadata["metrics"]
    click.echo(f"test accuracy {metrics['test_accuracy']:.4f} (best validation "
               f"{metrics['val_accuracy']:.4f} at epoch {metrics['best_epoch']}); saved {out}")


def train_model(config, data, drawings=0, exclude=(), on_epoch=None):
    """Train ``config`` on MNIST ``data`` plus ``drawings`` generated drawings of digit forms
    (without the traditions in ``exclude``). Returns ``(net, metadata)``, the metadata
    holding the whole recipe, the history and the MNIST test accuracy."""
    extra, recipe = None, {}
    if drawings:
        from . import forms

        images, labels, _ = forms.drawings(drawings, forms.TRAINING_SEED, exclude=exclude)
        extra = (images, labels)
        recipe = {"data": "MNIST training set (last 5,000 for validation) + generated drawings",
                  "forms": {"drawings": drawings, "seed": forms.TRAINING_SEED,
                            "traditions": "all", "exclude": sorted(exclude),
                            "generator": "model.strokes + model.canvas, read by "
                                         "webapp.preprocess (webapp.forms.drawings)"}}
    net, history = train.train(config, data, on_epoch=on_epoch, extra=extra)
    test = train.evaluate(net, model.inputs(net, data["test_images"]), data["test_labels"])
    best = max(history, key=lambda r: r["val_accuracy"])
    metadata = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "preprocessing": {"input": "28x28 MNIST-normalised, white ink on black, in [0, 1]"},
        "training": {**train.config_dict(config), **recipe},
        "metrics": {"test_accuracy": test["accuracy"], "test_loss": test["loss"],
                    "best_epoch": best["epoch"], "val_accuracy": best["val_accuracy"]},
        "history": history,
        "data_sha256": data["sha256"],
        "command": "digits " + " ".join(sys.argv[1:]),
    }
    return net, metadata


def styled_accuracy(net, data):
    """Accuracy on the test set's 7s, 1s and 9s redrawn in styles MNIST rarely has."""
    upright = model.prepare(data["test_images"]).reshape(-1, 28, 28)
    return {name: float((net.predict(model.inputs(net, images)) == digit).mean())
            for name, (images, digit) in styles.styled_sets(upright, data["test_labels"]).items()}


@click.command("evaluate")
@click.argument("model_file", metavar="MODEL", required=False,
                default=str(model.PRETRAINED), type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@data_options
def evaluate_command(model_file, as_json, data_dir, download):
    """Test-set accuracy, per class, the confusion matrix and styled digits (default: the
    shipped model)."""
    try:
        net, meta = model.load(model_file)
    except model.CheckpointError as exc:
        raise click.ClickException(str(exc)) from None
    data = load_data(data_dir, download)
    result = train.evaluate(net, model.inputs(net, data["test_images"]), data["test_labels"])
    confusion = result["confusion"]
    per_class = (confusion.diagonal() / confusion.sum(axis=1)).tolist()
    styled = styled_accuracy(net, data)
    if as_json:
        click.echo(json.dumps({"model": str(model_file), "accuracy": result["accuracy"],
                               "loss": result["loss"], "per_class": per_class,
                               "confusion": confusion.tolist(), "n": int(confusion.sum()),
                               "styles": styled}))
        return
    click.echo(f"model {model_file}: {net.sizes} {net.activation}, deskew={net.deskew}")
    click.echo(f"test accuracy {result['accuracy']:.4f} on {confusion.sum()} images "
               f"(mean cross-entropy {result['loss']:.4f})")
    click.echo("per class: " + "  ".join(f"{d}: {a:.4f}" for d, a in enumerate(per_class)))
    click.echo("confusion (rows: true digit, columns: predicted)")
    click.echo("     " + "".join(f"{d:>6d}" for d in range(10)))
    for d, row in enumerate(confusion):
        click.echo(f"{d:>5d}" + "".join(f"{v:>6d}" for v in row))
    click.echo("test digits redrawn in styles MNIST rarely has (model/styles.py):")
    for name, accuracy in styled.items():
        click.echo(f"  {name:<22s} {accuracy:.4f}")


# Why gthread: gunicorn's sync workers each serve one connection at a time, so two clients
# that send their headers slowly (a phone on bad Wi-Fi, or on purpose) left every worker
# waiting and the site unanswered for 30 s. A gthread worker keeps idle and kept-alive
# connections in a poller and gives a thread only to a connection that has sent bytes: a
# request dripped a byte a second holds one thread, not the worker. THREADS per worker is
# how many such connections a worker outlasts while still answering everyone else; the
# forward pass is NumPy, short, and fine on threads. Past that, a buffering proxy in front
# (nginx) is the answer: it passes only complete requests on (README: serving in production).
THREADS = 256
TIMEOUT = 30            # s a worker may go silent (stuck) before the arbiter replaces it
GRACEFUL_TIMEOUT = 20   # s a stopping worker has to finish the requests it is serving
# s an idle connection stays open. Longer than a visitor's pause between two digits, and
# than a proxy's idle upstream connections (nginx: keepalive_timeout in the upstream block,
# README): a server that closes an idle connection just as the client sends on it loses
# that request (the load test saw it at 5 s when the machine stalled).
KEEPALIVE = 20


def default_workers():
    """One worker per core this process may run on ($DIGITS_WORKERS overrides)."""
    if os.environ.get("DIGITS_WORKERS"):
        return int(os.environ["DIGITS_WORKERS"])
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:      # not on Linux
        return os.cpu_count() or 1


def gunicorn_options(host, port, workers, threads=THREADS):
    """gunicorn's settings for ``digits serve``; the web benchmark serves its baseline alike.

    No access log: the app logs each request itself, with its timing (webapp/health.py).
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


@click.command("serve")
@click.option("--host", default=lambda: os.environ.get("DIGITS_HOST", "127.0.0.1"),
              show_default="127.0.0.1 or $DIGITS_HOST")
@click.option("--port", type=int, default=lambda: int(os.environ.get("DIGITS_PORT", "8000")),
              show_default="8000 or $DIGITS_PORT")
@click.option("--workers", type=click.IntRange(1), default=default_workers,
              show_default="the number of cores, or $DIGITS_WORKERS")
@click.option("--threads", type=click.IntRange(1),
              default=lambda: int(os.environ.get("DIGITS_THREADS", str(THREADS))),
              show_default=f"{THREADS} or $DIGITS_THREADS",
              help="Threads per worker: how many slow connections each outlasts.")
@click.option("--proxies", type=click.IntRange(0),
              default=lambda: int(os.environ.get("DIGITS_PROXIES", "0")),
              show_default="0 or $DIGITS_PROXIES",
              help="Trusted reverse proxies in front (nginx: 1): take the visitor's address "
                   "and scheme from X-Forwarded-For/-Proto.")
@click.option("--no-worker", is_flag=True, help="Start no training worker (run `digits worker` "
                                                 "elsewhere).")
def serve_command(host, port, workers, threads, proxies, no_worker):
    """Run the web app under gunicorn, and one training worker beside it.

    SIGTERM stops it gracefully: the web workers finish the requests in
    flight (up to 20 s), then the training worker is stopped (a run in
    flight is marked failed) and waited for.
    """
    from . import jobs
    from .server import Server

    consumer = None if no_worker else jobs.start_consumer_process()
    try:
        Server(gunicorn_options(host, port, workers, threads), proxies=proxies).run()
    finally:
        if consumer is not None:
            jobs.stop_consumer_process(consumer)


def init_app(app):
    for command in (train_command, evaluate_command, serve_command):
        app.cli.add_command(command)


def create_cli_app():
    from . import create_app

    return create_app()


cli = FlaskGroup(create_app=create_cli_app, add_default_commands=False,
                 add_version_option=False, load_dotenv=False, set_debug_flag=False,
                 help=__doc__.split("\n")[0])


def main(argv=None):
    cli.main(args=argv, prog_name="digits")


if __name__ == "__main__":
    main()
