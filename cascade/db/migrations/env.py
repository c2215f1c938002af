"""Alembic environment: runs on a connection handed in by cascade.db.migrate.

``cascade-manage db sync`` and the tests share that one path (connection in
``config.attributes["connection"]``); SQLite needs batch mode for ALTERs.
"""
from alembic import context

from cascade.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through cascade.db.migrate")

context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite",
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
