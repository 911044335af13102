"""samples: a review state and a client key

Revision ID: 0002review
Revises: 0ff5cbfbb878
Create Date: 2026-12-02 13:50:00

Every sample gets a ``state`` (new, accepted or rejected): the rows already
stored were trained on until now, so they become accepted; the app stores
public corrections as new from here on. ``client`` is a keyed hash of the
address a sample came from (never the address): the review queue groups a
client's bursts by it. Rows stored before it have none.
"""
from alembic import op
import sqlalchemy as sa


revision = "0002review"
down_revision = "0ff5cbfbb878"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("samples") as batch:
        batch.add_column(sa.Column("state", sa.String(length=8), nullable=False,
                                   server_default="accepted"))
        batch.add_column(sa.Column("client", sa.String(length=32), nullable=True))
    # Only the rows already there default to accepted; the app names every new row's state.
    with op.batch_alter_table("samples") as batch:
        batch.alter_column("state", server_default=None)
        batch.create_index("ix_samples_state", ["state"])
        batch.create_index("ix_samples_client", ["client"])


def downgrade():
    with op.batch_alter_table("samples") as batch:
        batch.drop_index("ix_samples_client")
        batch.drop_index("ix_samples_state")
        batch.drop_column("client")
        batch.drop_column("state")
