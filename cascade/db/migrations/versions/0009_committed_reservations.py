"""Committed reservations: a commit marks its reservation instead of moving usage.

Committing a create used to lock the project's usage rows a second time, in
the transaction that writes the resource; for one busy project those rows are
the bottleneck of admission. A commit now only marks its reservation rows
``committed`` (``in_use + reserved`` does not change, so admission stays
exact), and folds move committed reservations into ``in_use`` later, under
the usage rows' locks (``cascade.quota.settlement.fold``). The index finds a
project's reservations for the fold and for the usage report.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reservations") as batch:
        batch.add_column(sa.Column("committed", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    op.create_index("ix_reservations_project_id", "reservations", ["project_id"])


def downgrade() -> None:
    # Fold what is committed first, so that usage stays exact without the column.
    op.execute("""
        UPDATE quota_usages SET
            in_use = in_use + (SELECT COALESCE(SUM(r.delta), 0) FROM reservations r
                               WHERE r.committed AND r.project_id = quota_usages.project_id
                               AND r.resource = quota_usages.resource),
            reserved = reserved - (SELECT COALESCE(SUM(r.delta), 0) FROM reservations r
                                   WHERE r.committed
                                   AND r.project_id = quota_usages.project_id
                                   AND r.resource = quota_usages.resource)
    """)
    op.execute("DELETE FROM reservations WHERE committed")
    op.drop_index("ix_reservations_project_id", table_name="reservations")
    with op.batch_alter_table("reservations") as batch:
        batch.drop_column("committed")
