"""Server tombstones: a deleted server's last mapping, for its action log (2.21).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "server_tombstones",
        sa.Column("global_id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("region", sa.String(255), nullable=False),
        sa.Column("local_id", sa.String(255), nullable=False),
        sa.Column("request_ids", sa.JSON().with_variant(JSONB(), "postgresql"),
                  nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("global_id", name="pk_server_tombstones"),
    )
    op.create_index("ix_server_tombstones_deleted_at", "server_tombstones", ["deleted_at"])


def downgrade() -> None:
    op.drop_index("ix_server_tombstones_deleted_at", table_name="server_tombstones")
    op.drop_table("server_tombstones")
