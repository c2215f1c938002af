"""Resources: parent_id and beyond_project, indexed, so one project's views read
only its own rows and what is shared with it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_BATCH = 1000


def _doc(value: object) -> dict:
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def upgrade() -> None:
    from cascade.db.models import derived_columns

    with op.batch_alter_table("resources") as batch:
        batch.add_column(sa.Column("parent_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("beyond_project", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    op.create_index("ix_resources_type_parent", "resources", ["type", "parent_id"])
    op.create_index("ix_resources_type_beyond", "resources", ["type", "beyond_project"])
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT global_id, type, attrs, spec FROM resources WHERE type IN "
        "('network', 'subnet', 'port', 'security_group_rule', 'image')")).fetchall()
    update = sa.text("UPDATE resources SET parent_id = :parent, beyond_project = :beyond "
                     "WHERE global_id = :id")
    values = []
    for gid, type_, attrs, spec in rows:
        parent, beyond = derived_columns(type_, _doc(attrs), _doc(spec))
        if parent is not None or beyond:
            values.append({"id": gid, "parent": parent, "beyond": beyond})
    for start in range(0, len(values), _BATCH):
        bind.execute(update, values[start:start + _BATCH])


def downgrade() -> None:
    op.drop_index("ix_resources_type_beyond", table_name="resources")
    op.drop_index("ix_resources_type_parent", table_name="resources")
    with op.batch_alter_table("resources") as batch:
        batch.drop_column("beyond_project")
        batch.drop_column("parent_id")
