"""Regions, resources, placements and jobs.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "regions",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("availability_zone", sa.String(255), nullable=False),
        sa.Column("local_availability_zone", sa.String(255)),
        sa.Column("compute_endpoint", sa.String(1024)),
        sa.Column("image_endpoint", sa.String(1024)),
        sa.Column("network_endpoint", sa.String(1024)),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("health", sa.String(16), nullable=False),
        sa.Column("health_since", sa.DateTime(timezone=True)),
        sa.Column("capabilities", JSONType, nullable=False),
        sa.Column("notification_transport_url", sa.String(1024)),
        sa.Column("source", sa.String(16), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("name", name="pk_regions"),
        sa.UniqueConstraint("availability_zone", name="uq_regions_availability_zone"),
    )
    op.create_table(
        "resources",
        sa.Column("global_id", sa.String(36), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64)),
        sa.Column("spec", JSONType, nullable=False),
        sa.Column("attrs", JSONType, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("global_id", name="pk_resources"),
    )
    op.create_index("ix_resources_project_type", "resources", ["project_id", "type"])
    op.create_table(
        "placements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("global_id", sa.String(36), nullable=False),
        sa.Column("resource_type", sa.String(32), nullable=False),
        sa.Column("region", sa.String(255), nullable=False),
        sa.Column("local_id", sa.String(255)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("lease_owner", sa.String(255)),
        sa.Column("lease_expires", sa.DateTime(timezone=True)),
        sa.Column("last_seen", sa.DateTime(timezone=True)),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_placements"),
        sa.ForeignKeyConstraint(["global_id"], ["resources.global_id"], ondelete="CASCADE",
                                name="fk_placements_global_id_resources"),
        sa.ForeignKeyConstraint(["region"], ["regions.name"],
                                name="fk_placements_region_regions"),
        sa.UniqueConstraint("global_id", "region", name="uq_placements_global_id_region"),
        sa.UniqueConstraint("resource_type", "region", "local_id",
                            name="uq_placements_resource_type_region_local_id"),
    )
    op.create_index("ix_placements_region_state", "placements", ["region", "state"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("dedupe_key", sa.String(255)),
        sa.Column("payload", JSONType, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column("lease_owner", sa.String(255)),
        sa.Column("lease_expires", sa.DateTime(timezone=True)),
        sa.Column("progress_done", sa.BigInteger()),
        sa.Column("progress_total", sa.BigInteger()),
        sa.Column("last_error", sa.Text()),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    active = sa.text("state IN ('queued', 'running')")
    op.create_index("uq_jobs_active_dedupe_key", "jobs", ["dedupe_key"], unique=True,
                    postgresql_where=active, sqlite_where=active)
    op.create_index("ix_jobs_state_run_after", "jobs", ["state", "run_after"])


def downgrade() -> None:
    op.drop_table("jobs")
    op.drop_table("placements")
    op.drop_table("resources")
    op.drop_table("regions")
