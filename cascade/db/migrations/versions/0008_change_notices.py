"""Change notices: triggers that tell every Cascade process what to drop from its caches.

On PostgreSQL only (SQLite serves one process). Channel ``cascade_coherence``
(``cascade.coherence``); payloads ``region:<name>``,
``placement:<type>:<global id>``. Only the changes caches depend on notify: a
region's settings or health (not the probe counters), where a resource lives
and in what state (not its status or cached view, which change all the time and
are read from the database).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_REGION_FIELDS = ("availability_zone", "local_availability_zone", "compute_endpoint",
                  "image_endpoint", "network_endpoint", "enabled", "weight", "health",
                  "capabilities", "notification_transport_url")


def _changed(fields: tuple[str, ...]) -> str:
    return " OR ".join(f"OLD.{f}::text IS DISTINCT FROM NEW.{f}::text" for f in fields)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE FUNCTION cascade_notice_region() RETURNS trigger AS $$
        BEGIN
            PERFORM pg_notify('cascade_coherence',
                              'region:' || COALESCE(NEW.name, OLD.name));
            RETURN NULL;
        END $$ LANGUAGE plpgsql""")
    op.execute("""
        CREATE FUNCTION cascade_notice_placement() RETURNS trigger AS $$
        BEGIN
            PERFORM pg_notify('cascade_coherence', 'placement:'
                              || COALESCE(NEW.resource_type, OLD.resource_type) || ':'
                              || COALESCE(NEW.global_id, OLD.global_id));
            RETURN NULL;
        END $$ LANGUAGE plpgsql""")
    op.execute("""CREATE TRIGGER regions_notice_rows AFTER INSERT OR DELETE ON regions
                  FOR EACH ROW EXECUTE FUNCTION cascade_notice_region()""")
    op.execute(f"""CREATE TRIGGER regions_notice_update AFTER UPDATE ON regions
                   FOR EACH ROW WHEN ({_changed(_REGION_FIELDS)})
                   EXECUTE FUNCTION cascade_notice_region()""")
    op.execute("""CREATE TRIGGER placements_notice_rows AFTER INSERT OR DELETE ON placements
                  FOR EACH ROW EXECUTE FUNCTION cascade_notice_placement()""")
    op.execute(f"""CREATE TRIGGER placements_notice_update AFTER UPDATE ON placements
                   FOR EACH ROW WHEN ({_changed(("region", "local_id", "state"))})
                   EXECUTE FUNCTION cascade_notice_placement()""")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for trigger, table in (("regions_notice_rows", "regions"),
                           ("regions_notice_update", "regions"),
                           ("placements_notice_rows", "placements"),
                           ("placements_notice_update", "placements")):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    for function in ("cascade_notice_region", "cascade_notice_placement"):
        op.execute(f"DROP FUNCTION IF EXISTS {function}()")
