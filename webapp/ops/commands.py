"""The operator's ``digits`` commands: the training worker, retraining, model versions, access.

    digits worker
    digits retrain [--epochs 4 --eta 0.05 … --include-samples --include-new --from-scratch]
    digits models list | promote N [--force] | rollback [N]
    digits admin set-password [--password-stdin]
    digits samples import PATH | accept … | reject … | counts   (sample_commands)
    digits samples export FILE [--format png|idx]

They run in the app's context against the configured database (``DATABASE_URL``,
else the instance folder) and call what the dashboard calls: ``teaching`` for a
retrain (the same validation, the same one-at-a-time rule, the same
``worker.execute``, here in this process), ``core.registry`` for versions and
``admin.auth.set_password`` for the password.
"""

import sys
import time

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from model import mnist
from model.checkpoint import write_atomic

from ..admin.auth import set_password
from ..core import registry, served
from ..teaching import export, runs, worker
from ..teaching.settings import FINE_TUNE, FROM_SCRATCH, as_form, validate
from .model_commands import data_dir_option
from .sample_commands import samples_group


@click.command("worker")
@with_appcontext
def worker_command():
    """Run one training worker: consume the job queue (SIGINT finishes the run first)."""
    worker.run_consumer(current_app._get_current_object())


@click.command("retrain")
@click.option("--hidden", type=int, help=f"Hidden units, from scratch only [default: "
                                         f"{FROM_SCRATCH.hidden}].")
@click.option("--epochs", type=int, help=f"[default: {FINE_TUNE.epochs}; from scratch "
                                         f"{FROM_SCRATCH.epochs}]")
@click.option("--eta", type=float, help=f"Peak learning rate [default: {FINE_TUNE.eta:g}; "
                                        f"from scratch {FROM_SCRATCH.eta:g}].")
@click.option("--batch-size", type=int, help=f"[default: {FINE_TUNE.batch_size}]")
@click.option("--augment/--no-augment", default=FINE_TUNE.augment, show_default=True,
              help="Distort the training images afresh every epoch.")
@click.option("--include-samples/--no-include-samples", default=FINE_TUNE.include_samples,
              show_default=True, help="Train on the accepted collected samples too (not the "
                                      "held-out ones).")
@click.option("--include-new", is_flag=True, default=FINE_TUNE.include_new,
              help="Add the samples not reviewed yet (state new) to the accepted ones.")
@click.option("--sample-weight", type=int,
              help=f"Times each collected sample is seen per epoch [default: "
                   f"{FINE_TUNE.sample_weight}].")
@click.option("--from-scratch", is_flag=True,
              help="Train a new network instead of fine-tuning the serving model.")
@data_dir_option
@with_appcontext
def retrain_command(from_scratch, data_dir, **options):
    """Retrain as the dashboard does and register a new model version (not served yet)."""
    form = as_form(options, start="scratch" if from_scratch else "serving")
    if options["hidden"] is not None and not from_scratch:
        click.echo("note: --hidden applies only with --from-scratch; fine-tuning keeps the "
                   "serving model's sizes")
    settings, errors = validate(form)
    if errors:
        raise click.UsageError(" ".join(errors.values()))
    active = runs.latest()
    if not (active and active.status in ("queued", "running")):   # that refusal comes first
        try:  # before a run exists: missing MNIST is a message, not a failed run's traceback
            mnist.ensure_files(data_dir or current_app.config["DATA_DIR"], download=True)
        except mnist.DataError as exc:
            raise click.ClickException(str(exc)) from None
    try:
        run = runs.start(settings, enqueue=False)
    except runs.RunRefused as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"training run {run.id}: " + ", ".join(
        f"{name} {value}" for name, value in vars(settings).items()))

    def report(record):
        click.echo(f"epoch {record['epoch']:3d}  loss {record['loss']:.4f}  "
                   f"train {record['train_accuracy']:.4f}  val {record['val_accuracy']:.4f}  "
                   f"{record['seconds']:.1f}s")

    run = worker.execute(run.id, data_dir=data_dir, report=report)
    if run.status != "succeeded":
        raise click.ClickException(run.error or f"Training run {run.id} {run.status}.")
    results = run.results
    held_out = results["held_out"]
    click.echo(f"model version {run.version_id}")
    click.echo(f"test accuracy {results['test_accuracy']:.4f}  validation "
               f"{results['val_accuracy']:.4f}  held-out samples "
               + (f"{held_out['accuracy']:.4f} (n={held_out['n']})"
                  if held_out["accuracy"] is not None else "none")
               + f"  {results['seconds']:.0f} s")
    click.echo("styles: " + "  ".join(f"{name} {value:.4f}"
                                      for name, value in results["styles"].items()))
    refusal = registry.needs_force(registry.get(run.version_id))
    if refusal:
        click.echo(f"not promoted: {refusal.split('; promote it')[0]}; if you are sure, "
                   f"`digits models promote {run.version_id} --force`")
    else:
        click.echo(f"serve it with: digits models promote {run.version_id}")


@click.group("models", cls=AppGroup)
def models_group():
    """List, promote and roll back model versions."""


def percent(value):
    return "—" if value is None else f"{value:.2%}"


@models_group.command("list")
def list_command():
    """Every model version, newest first; * marks the one being served."""
    serving = registry.serving_id()
    rows = [("", "version", "created", "sizes", "origin", "test", "held-out")]
    for version in registry.versions():
        metrics = version.metrics or {}
        rows.append(("*" if version.id == serving else "", str(version.id),
                     version.created.strftime("%Y-%m-%d %H:%M"), version.sizes, version.origin,
                     percent(metrics.get("test_accuracy")),
                     percent(metrics.get("held_out_accuracy"))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


@models_group.command("promote")
@click.argument("version", type=int)
@click.option("--force", is_flag=True,
              help="Promote even if its test accuracy is more than PROMOTE_MARGIN below the "
                   "serving model's.")
def promote_command(version, force):
    """Serve model VERSION from now on; returns once every web process serves it."""
    try:
        registry.promote(version, force=force)
    except registry.RegistryError as exc:
        raise click.ClickException(str(exc)) from None
    wait_for_web_processes()
    click.echo(f"now serving model version {version}" + (" (forced)" if force else ""))


@models_group.command("rollback")
@click.argument("version", type=int, required=False)
def rollback_command(version):
    """Serve VERSION again, or else the version served before the current one."""
    try:
        served = registry.rollback(version)
    except registry.RegistryError as exc:
        raise click.ClickException(str(exc)) from None
    wait_for_web_processes()
    click.echo(f"now serving model version {served.id}")


def wait_for_web_processes():
    """Return when every web process has switched (they look for a new version on their
    own, on every host), so a script may count on answers from the new version."""
    time.sleep(served.switch_seconds(current_app))


# -- digits admin set-password ---------------------------------------------------------------

admin_cli = AppGroup("admin", help="Manage access to the admin dashboard.")


@admin_cli.command("set-password")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input.")
def set_password_command(password_stdin):
    """Set the admin password (stored as a salted scrypt hash in the database)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New admin password", hide_input=True,
                                confirmation_prompt="Repeat it")
    try:
        set_password(password)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("Admin password set.")
    if current_app.config["ADMIN_PASSWORD_HASH"]:
        click.echo("Note: DIGITS_ADMIN_PASSWORD_HASH is set and wins over the stored password "
                   "until it is unset.", err=True)


# -- digits samples export -------------------------------------------------------------------

@samples_group.command("export")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@click.option("--format", "fmt", type=click.Choice(export.FORMATS), default="png",
              show_default=True, help="png: a PNG per drawing and labels.csv; idx: MNIST's "
                                      "idx files (images and labels).")
def export_command(path, fmt):
    """Write every collected drawing (28×28, as MNIST) to the zip file PATH."""
    data, count = export.archive(fmt)
    write_atomic(path, data)
    click.echo(f"{count} drawings written to {path} ({fmt}, {len(data):,} bytes)")


def init_app(app):
    for command in (worker_command, retrain_command, models_group, admin_cli, samples_group):
        app.cli.add_command(command)
