"""Quota: limits, the usage ledger, reservations; what each resource counts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NullableJSON = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.add_column("resources", sa.Column("usage", NullableJSON, nullable=True))
    # Keypairs already stored count against key_pairs; the first quota sweep
    # builds the ledger from this (servers get theirs when they are created).
    resources = sa.table("resources", sa.column("type", sa.String),
                         sa.column("usage", NullableJSON))
    op.execute(resources.update().where(resources.c.type == "keypair")
               .values(usage={"key_pairs": 1}))
    op.create_table(
        "quota_limits",
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("resource", sa.String(64), nullable=False),
        sa.Column("hard_limit", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "resource", name="pk_quota_limits"),
    )
    op.create_table(
        "quota_usages",
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("resource", sa.String(64), nullable=False),
        sa.Column("in_use", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.PrimaryKeyConstraint("project_id", "resource", name="pk_quota_usages"),
    )
    op.create_table(
        "reservations",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("resource", sa.String(64), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.PrimaryKeyConstraint("id", "resource", name="pk_reservations"),
    )
    op.create_index("ix_reservations_expires_at", "reservations", ["expires_at"])


def downgrade() -> None:
    op.drop_table("reservations")
    op.drop_table("quota_usages")
    op.drop_table("quota_limits")
    # NOTE: a plain DROP COLUMN (SQLite 3.35+), not a batch table copy: copying
    # ``resources`` would drop the old table, and with foreign keys on SQLite
    # cascades that drop to every placement.
    op.drop_column("resources", "usage")
