"""The ``digits`` command: a Flask CLI group, so every command runs in the app's context.

    digits serve | worker | retrain | models … | admin set-password | train | evaluate

``digits …`` is ``flask --app webapp …`` plus ``serve``: the same app,
configuration and database, so every command runs in the app's context. The
commands live in ``server`` (serve), ``commands`` (the operator's) and
``model_commands`` (train, evaluate); ``create_app`` registers all but ``serve``,
which starts the apps itself. ``python -m webapp.ops.cli`` runs it too (how
``digits serve`` starts its training worker). Tests call the commands through
``app.test_cli_runner()``.
"""

from flask.cli import FlaskGroup

from .. import create_app
from .server import serve_command

cli = FlaskGroup(create_app=create_app, add_default_commands=False,
                 add_version_option=False, load_dotenv=False, set_debug_flag=False,
                 help=__doc__.split("\n")[0])
cli.add_command(serve_command)


def main(argv=None):
    cli.main(args=argv, prog_name="digits")


if __name__ == "__main__":
    main()
