"""``digits samples``: bring in labelled drawings, and review them from scripts.

    digits samples import PATH                 a folder or .zip (teaching.imports: 7/x.png,
                                               none/x.png, or labels.csv), stored accepted
    digits samples accept --all | ID…          new → accepted (--all: every new sample)
    digits samples reject ID… | --client KEY   → rejected (KEY: the client column)
    digits samples counts                      new / accepted / rejected / not a digit

Accepting and rejecting do what the review queue's buttons do (``core.samples.set_state``);
the benchmarks that send corrections through the API accept them so a default
retrain trains on them.
"""

import click
from flask.cli import AppGroup

from ..core import samples
from ..teaching import imports

samples_group = AppGroup("samples", help="Import collected drawings; accept or reject them.")


@samples_group.command("import")
@click.argument("path", type=click.Path(exists=True))
def import_command(path):
    """Import the labelled PNG/JPEG files of the folder or .zip PATH, accepted.

    A file's label is its row in labels.csv at the top (file,label), else the name of its
    folder: 7/anything.png; none/anything.png is "not a digit".
    """
    try:
        report = imports.import_path(path)
    except imports.ImportRefused as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(report.summary())
    if not report.stored and report.skipped:
        raise click.ClickException("nothing was imported")


@samples_group.command("accept")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "every", is_flag=True, help="Accept every new sample.")
def accept_command(ids, every):
    """Accept the samples IDs (or, with --all, every new one): retrains use them."""
    if bool(ids) == every:
        raise click.UsageError("Give sample ids or --all (not both).")
    changed = samples.set_state(samples.ACCEPTED, ids=None if every else ids)
    click.echo(f"accepted {changed} sample{'s' if changed != 1 else ''}")


@samples_group.command("reject")
@click.argument("ids", nargs=-1, type=int)
@click.option("--client", help="Reject every sample from this client (the key the review "
                               "queue shows).")
def reject_command(ids, client):
    """Reject the samples IDs, or every sample from --client: they never train."""
    if bool(ids) == bool(client):
        raise click.UsageError("Give sample ids or --client (not both).")
    changed = samples.set_state(samples.REJECTED, ids=ids or None, client=client)
    click.echo(f"rejected {changed} sample{'s' if changed != 1 else ''}")


@samples_group.command("counts")
def counts_command():
    """How many samples are new, accepted, rejected, and labelled not a digit."""
    counts = samples.state_counts()
    click.echo("  ".join(f"{name.replace('_', ' ')} {n}" for name, n in counts.items()))
