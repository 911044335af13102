"""classrooms: classes, their students and shared drawings; samples and runs tagged by class

Revision ID: 0004classroom
Revises: 0002review
Create Date: 2026-12-02 13:55:00

"""
from alembic import op
import sqlalchemy as sa


revision = "0004classroom"
down_revision = "0002review"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "classrooms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended", sa.DateTime(timezone=True), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("model_version_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["model_version_id"], ["model_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "class_students",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("classroom_id", sa.Integer(), nullable=False),
        sa.Column("nickname", sa.String(length=20), nullable=False),
        sa.Column("joined", sa.DateTime(timezone=True), nullable=False),
        sa.Column("latest_pixels", sa.LargeBinary(), nullable=True),
        sa.Column("latest_digit", sa.Integer(), nullable=True),
        sa.Column("latest_confidence", sa.Float(), nullable=True),
        sa.Column("latest_version", sa.Integer(), nullable=True),
        sa.Column("latest_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["classroom_id"], ["classrooms.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_class_students_classroom_id", "class_students", ["classroom_id"])
    with op.batch_alter_table("samples") as batch:
        batch.add_column(sa.Column("classroom_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("student_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_samples_classroom", "classrooms", ["classroom_id"], ["id"],
                                 ondelete="CASCADE")
        batch.create_foreign_key("fk_samples_student", "class_students", ["student_id"], ["id"],
                                 ondelete="CASCADE")
        batch.create_index("ix_samples_classroom_id", ["classroom_id"])
    op.create_table(
        "shared_drawings",
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("classroom_id", sa.Integer(), nullable=False),
        sa.Column("sample_id", sa.Integer(), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["classroom_id"], ["classrooms.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["sample_id"], ["samples.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token"),
    )
    op.create_index("ix_shared_drawings_classroom_id", "shared_drawings", ["classroom_id"])
    with op.batch_alter_table("training_runs") as batch:
        batch.add_column(sa.Column("classroom_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_training_runs_classroom", "classrooms", ["classroom_id"],
                                 ["id"], ondelete="CASCADE")


def downgrade():
    with op.batch_alter_table("training_runs") as batch:
        batch.drop_constraint("fk_training_runs_classroom", type_="foreignkey")
        batch.drop_column("classroom_id")
    op.drop_index("ix_shared_drawings_classroom_id", table_name="shared_drawings")
    op.drop_table("shared_drawings")
    with op.batch_alter_table("samples") as batch:
        batch.drop_index("ix_samples_classroom_id")
        batch.drop_constraint("fk_samples_student", type_="foreignkey")
        batch.drop_constraint("fk_samples_classroom", type_="foreignkey")
        batch.drop_column("student_id")
        batch.drop_column("classroom_id")
    op.drop_index("ix_class_students_classroom_id", table_name="class_students")
    op.drop_table("class_students")
    op.drop_table("classrooms")
