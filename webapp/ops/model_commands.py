"""``digits train`` and ``digits evaluate``: the network on MNIST, no database involved.

    digits train --hidden 256 --epochs 150 --out model/pretrained.npz
    digits evaluate [MODEL] [--json]

Training settings and their defaults come from ``model.train.TrainConfig``
alone; the checkpoint's metadata from ``model.train.metadata``.
"""

import json
import sys

import click
import numpy as np

import model
from model import mnist, strokes, styles, train

from ..teaching import handwriting
from ..teaching.drawings import training_set as drawings_set

TRAINING = train.TrainConfig()      # digits train's defaults


data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False),
    help="Directory with the four MNIST idx .gz files (default: $DIGITS_DATA_DIR, "
         "else ~/.cache/digits/mnist).")


def data_options(command):
    """``--data-dir`` and ``--no-download``, for every command that reads MNIST."""
    command = click.option(
        "--no-download", "download", is_flag=True, flag_value=False, default=True,
        help="Never fetch missing MNIST files (by default they are downloaded from public "
             "mirrors, or $DIGITS_MNIST_MIRROR, and SHA-256 checked).")(command)
    return data_dir_option(command)


def load_data(data_dir, download):
    try:
        return mnist.load(data_dir, download=download)
    except mnist.DataError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("train")
@click.option("--hidden", type=int, multiple=True, default=TRAINING.hidden, show_default=True,
              help="Hidden layer size; repeat for more layers.")
@click.option("--activation", type=click.Choice(["sigmoid", "relu"]),
              default=TRAINING.activation, show_default=True)
@click.option("--epochs", type=click.IntRange(1), default=TRAINING.epochs, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=TRAINING.batch_size,
              show_default=True)
@click.option("--eta", type=click.FloatRange(0, min_open=True), default=TRAINING.eta,
              show_default=True, help="Peak learning rate.")
@click.option("--momentum", type=click.FloatRange(0, 1, max_open=True),
              default=TRAINING.momentum, show_default=True)
@click.option("--weight-decay", type=click.FloatRange(0), default=TRAINING.weight_decay,
              show_default=True)
@click.option("--schedule", type=click.Choice(["cosine", "constant"]),
              default=TRAINING.schedule, show_default=True)
@click.option("--augment/--no-augment", default=TRAINING.augment, show_default=True,
              help="Distort the training images afresh every epoch.")
@click.option("--deskew/--no-deskew", default=TRAINING.deskew, show_default=True)
@click.option("--seed", type=int, default=TRAINING.seed, show_default=True)
@click.option("--forms", "drawings", type=click.IntRange(0), default=0, show_default=True,
              help="Also train on this many generated drawings of the world's digit forms "
                   "(webapp.teaching.drawings; the shipped model: 6000).")
@click.option("--forms-exclude", "exclude", multiple=True,
              type=click.Choice(strokes.TRADITIONS),
              help="Leave this tradition's own forms out of the drawings (repeatable).")
@click.option("--pen", type=click.IntRange(0), default=0, show_default=True,
              help="Also train on this many pen drawings by model.pen's training writers "
                   "(tiny-headed 9s, arched 7s, one-stroke 4s, ...; the shipped model: 8000).")
@click.option("--redraw", type=click.IntRange(0), default=0, show_default=True,
              help="Also train on this many MNIST training digits re-drawn with the canvas's "
                   "pen (model.redraw; the shipped model: 12000).")
@click.option("--extra-repeat", type=click.IntRange(1), default=TRAINING.extra_repeat,
              show_default=True, help="Times each extra drawing is seen per epoch.")
@click.option("--start", type=click.Path(dir_okay=False, exists=True),
              help="Start from this model instead of from random weights, widened to --hidden "
                   "units if it has fewer (model.train.widen: it reads as before at first).")
@click.option("--out", type=click.Path(dir_okay=False), default="model.npz", show_default=True,
              help="Where to write the model (atomically).")
@data_options
def train_command(out, data_dir, download, drawings, exclude, pen, redraw, start, **settings):
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

    extra, recipe = extra_set(data, drawings, exclude, pen, redraw)
    begin = None
    if start:
        try:
            begin = train.widen(model.load(start)[0], config.hidden[0], config.seed)
        except (model.CheckpointError, ValueError) as exc:
            raise click.ClickException(f"--start {start}: {exc}") from None
        recipe = {**(recipe or {}), "start": {"file": str(start), "sha256": mnist.sha256(start),
                                              "widened_to": config.hidden[0]}}
    net, metadata = train.train_with_metadata(config, data, on_epoch, extra, recipe,
                                              command="digits " + " ".join(sys.argv[1:]),
                                              start=begin)
    bar.close()
    model.save(out, net, metadata)
    metrics = metadata["metrics"]
    click.echo(f"test accuracy {metrics['test_accuracy']:.4f} (best validation "
               f"{metrics['val_accuracy']:.4f} at epoch {metrics['best_epoch']}); saved {out}")


def extra_set(data, drawings, exclude, pen, redraw):
    """The extra training digits ``digits train`` asked for: ``((images, labels), recipe)``,
    or ``(None, None)`` for MNIST alone."""
    parts, recipe = [], {}
    if drawings:
        (images, labels), recipe = drawings_set(drawings, exclude)
        parts.append((images, labels))
    if pen:
        images, labels, _ = handwriting.pen_drawings(pen)
        parts.append((images, labels))
        recipe["pen"] = {"drawings": pen, "writers": f"model.pen.TRAINING_WRITERS, first "
                         f"{(pen + 9) // 10}", "seed": handwriting.TRAINING_SEED}
    if redraw:
        images, labels, _ = handwriting.redrawn_mnist(data, redraw)
        parts.append((images, labels))
        recipe["redrawn_mnist"] = {"asked": redraw, "kept": len(labels),
                                   "seed": handwriting.TRAINING_SEED}
    if not parts:
        return None, None
    recipe["data"] = (f"MNIST training set (last {mnist.VALIDATION_SIZE:,} for validation) + "
                      + " + ".join(k for k in ("forms", "pen", "redrawn_mnist") if k in recipe))
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])), recipe


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
    result = train.measure(net, model.inputs(net, data["test_images"]), data["test_labels"])
    confusion, per_class = result["confusion"], result["per_class"]
    styled = styles.styled_accuracy(net, data)
    if as_json:
        click.echo(json.dumps({"model": str(model_file), "accuracy": result["accuracy"],
                               "loss": result["loss"], "per_class": per_class,
                               "confusion": confusion.tolist(), "n": int(confusion.sum()),
                               "styles": styled}))
        return
    click.echo(f"model {model_file}: {net.sizes} {net.activation}, deskew={net.deskew}")
    click.echo(f"test accuracy {result['accuracy']:.4f} on {confusion.sum()} images "
               f"(mean cross-entropy {result['loss']:.4f})")
    click.echo("per class: " + "  ".join(f"{d}: " + ("no digits" if a is None else f"{a:.4f}")
                                         for d, a in enumerate(per_class)))
    click.echo("confusion (rows: true digit, columns: predicted)")
    click.echo("     " + "".join(f"{d:>6d}" for d in range(10)))
    for d, row in enumerate(confusion):
        click.echo(f"{d:>5d}" + "".join(f"{v:>6d}" for v in row))
    click.echo("test digits redrawn in styles MNIST rarely has (model/styles.py):")
    for name, accuracy in styled.items():
        click.echo(f"  {name:<22s} {accuracy:.4f}")


@click.command("fetch-mnist")
@data_dir_option
def fetch_mnist_command(data_dir):
    """Download MNIST's four files (SHA-256 checked) where retraining looks for them."""
    try:
        paths = mnist.ensure_files(data_dir, download=True)
    except mnist.DataError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"MNIST is in {next(iter(paths.values())).parent}: " + ", ".join(
        path.name for path in paths.values()))


def init_app(app):
    for command in (train_command, evaluate_command, fetch_mnist_command):
        app.cli.add_command(command)
