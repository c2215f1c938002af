"""A region's notification transport URL goes from cascade.conf to the registry."""
from __future__ import annotations

from pathlib import Path

from cascade.db import engine as db_engine
from cascade.regions.registry import RegionRegistry, register_from_config
from tests.conftest import write_conf

URL = "rabbit://guest:guest@127.0.0.1:5672/cascade-r1"


async def test_notification_transport_url_is_registered(migrated_db: str,
                                                        tmp_path: Path) -> None:
    conf = write_conf(tmp_path, f"""[DEFAULT]
regions = RegionOne,RegionTwo
[region_RegionOne]
notification_transport_url = {URL}
""")
    engine = db_engine.make_engine(conf, migrated_db)
    sessions = db_engine.make_sessionmaker(engine)
    try:
        await register_from_config(conf, sessions)
        registry = RegionRegistry()
        await registry.load(sessions, {})
        urls = {r.name: r.notification_transport_url for r in registry}
        assert urls == {"RegionOne": URL, "RegionTwo": None}

        # removed from the configuration: removed from the region
        conf = write_conf(tmp_path, "[DEFAULT]\nregions = RegionOne\n")
        await register_from_config(conf, sessions)
        await registry.load(sessions, {})
        assert registry.get("RegionOne").notification_transport_url is None  # type: ignore[union-attr]
    finally:
        await engine.dispose()
