"""Region health hysteresis and history; reconciliation watermarks.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("regions", sa.Column("probe_failures", sa.Integer(), nullable=False,
                                       server_default="0"))
    op.add_column("regions", sa.Column("probe_successes", sa.Integer(), nullable=False,
                                       server_default="0"))
    op.create_table(
        "region_health_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("region", sa.String(255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.ForeignKeyConstraint(["region"], ["regions.name"], ondelete="CASCADE",
                                name="fk_region_health_events_region_regions"),
        sa.PrimaryKeyConstraint("id", name="pk_region_health_events"),
    )
    op.create_index("ix_region_health_events_region_at", "region_health_events",
                    ["region", "at"])
    op.create_table(
        "sync_watermarks",
        sa.Column("region", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("value", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["region"], ["regions.name"], ondelete="CASCADE",
                                name="fk_sync_watermarks_region_regions"),
        sa.PrimaryKeyConstraint("region", "kind", name="pk_sync_watermarks"),
    )


def downgrade() -> None:
    op.drop_table("sync_watermarks")
    op.drop_index("ix_region_health_events_region_at", table_name="region_health_events")
    op.drop_table("region_health_events")
    with op.batch_alter_table("regions") as batch:
        batch.drop_column("probe_successes")
        batch.drop_column("probe_failures")
