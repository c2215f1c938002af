"""Segment allocations: the VLAN ids Cascade hands out on the shared physical network.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "segment_allocations",
        sa.Column("physical_network", sa.String(64), nullable=False),
        sa.Column("segmentation_id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("holder", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("physical_network", "segmentation_id",
                                name="pk_segment_allocations"),
    )
    op.create_index("ix_segment_allocations_holder", "segment_allocations", ["holder"],
                    unique=True)


def downgrade() -> None:
    op.drop_index("ix_segment_allocations_holder", table_name="segment_allocations")
    op.drop_table("segment_allocations")
