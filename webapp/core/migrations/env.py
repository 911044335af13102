"""Alembic's entry point, run by Flask-Migrate inside the app: migrate ``webapp.core.db``'s schema.

Logging is left as the app set it up (no ``fileConfig``), and the engine is the
app's own, so SQLite gets the same pragmas as every other connection.
"""

from alembic import context
from flask import current_app

extension = current_app.extensions["migrate"]
config = context.config
config.set_main_option("sqlalchemy.url",
                       extension.db.engine.url.render_as_string(hide_password=False)
                       .replace("%", "%%"))


def skip_empty_autogenerate(_context, _revision, directives):
    """``digits db migrate`` with no schema change writes no empty revision."""
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"),
                      target_metadata=extension.db.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    options = dict(extension.configure_args)
    options.setdefault("process_revision_directives", skip_empty_autogenerate)
    with extension.db.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=extension.db.metadata,
                          **options)
        with context.begin_transaction():
            context.run_migrations()
