"""budget entries (samples and storage per client, shared by every process), idempotency keys

Revision ID: 0003limits
Revises: 0003security
Create Date: 2026-12-02 14:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0003limits"
down_revision = "0003security"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("budget_entries",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("bucket", sa.String(length=16), nullable=False),
    sa.Column("client", sa.String(length=32), nullable=False),
    sa.Column("at", sa.Float(), nullable=False),
    sa.Column("cost", sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint("id")
    )
    op.create_index("ix_budget_entries_lookup", "budget_entries", ["bucket", "client", "at"])
    op.create_table("idempotency_keys",
    sa.Column("key", sa.String(length=255), nullable=False),
    sa.Column("fingerprint", sa.String(length=64), nullable=False),
    sa.Column("at", sa.Float(), nullable=False),
    sa.Column("status", sa.Integer(), nullable=False),
    sa.Column("answer", sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint("key")
    )
    op.create_index("ix_idempotency_keys_at", "idempotency_keys", ["at"])


def downgrade():
    op.drop_index("ix_idempotency_keys_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_index("ix_budget_entries_lookup", table_name="budget_entries")
    op.drop_table("budget_entries")
