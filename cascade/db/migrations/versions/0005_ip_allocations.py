"""IP allocations: Cascade owns the addresses of its networks' ports in every region.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ip_allocations",
        sa.Column("network_id", sa.String(36), nullable=False),
        sa.Column("ip_address", sa.String(64), nullable=False),
        sa.Column("subnet_id", sa.String(36), nullable=False),
        sa.Column("holder", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("network_id", "ip_address", name="pk_ip_allocations"),
    )
    op.create_index("ix_ip_allocations_subnet_id", "ip_allocations", ["subnet_id"])
    op.create_index("ix_ip_allocations_holder", "ip_allocations", ["holder"])


def downgrade() -> None:
    op.drop_index("ix_ip_allocations_holder", table_name="ip_allocations")
    op.drop_index("ix_ip_allocations_subnet_id", table_name="ip_allocations")
    op.drop_table("ip_allocations")
