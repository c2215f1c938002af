"""Build a Cascade app in front of fake regions, for functional tests."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web
from oslo_config import cfg

from cascade.app import create_app
from cascade.auth.identity import NoAuth
from tests.conftest import write_conf
from tests.fakes.region import FakeRegion


def gateway_conf(tmp_path: Path, db_url: str, regions: dict[str, str], *,
                 extra: str = "") -> cfg.ConfigOpts:
    """Configuration for regions whose endpoints are overridden to ``regions`` bases."""
    text = [f"[DEFAULT]\nregions = {','.join(regions)}\n",
            f"[database]\nconnection = {db_url}\n",
            "[api]\nauth_strategy = noauth\nregion_timeout = 1.0\n"
            "region_connect_timeout = 0.5\n",
            # The first fake region also plays Keystone for Cascade's own token.
            f"[service_credentials]\nauth_url = {next(iter(regions.values()))}/identity/v3\n"
            "password = secret\n"]
    for name, base in regions.items():
        text.append(f"[region_{name}]\ncompute_endpoint = {base}/compute/v2.1\n"
                    f"image_endpoint = {base}/image\nnetwork_endpoint = {base}/network\n")
    return write_conf(tmp_path, "".join(text) + extra)


def gateway_app(conf: cfg.ConfigOpts, *, run_sync: bool = False) -> web.Application:
    """Cascade with noauth; ``run_sync`` also runs the job worker and loops in process."""
    return create_app(conf, authenticator=NoAuth(), migrate_db=True, background=False,
                      run_sync=run_sync, all_in_one=run_sync)


DEMO = {"X-Auth-Token": "u1:demo"}
ALT = {"X-Auth-Token": "u2:alt"}
ADMIN = {"X-Auth-Token": "adm:admin:admin"}

__all__ = ["FakeRegion", "gateway_conf", "gateway_app", "DEMO", "ALT", "ADMIN"]
