"""One project's network and image views with many other projects in the database.

Fills Cascade's database (PostgreSQL by default) with ``--networks`` networks and
``--images`` private images spread over ``--projects`` projects (plus a few
shared networks and public images), then measures, in process (aiohttp test
client, noauth, no regions asked), the p50/p95 of one project's

- ``GET /networking/v2.0/networks`` (its 10 networks and the shared ones),
- ``GET /networking/v2.0/networks/{id}``,
- ``GET /image/v2/images`` and ``GET /image/v2/images/{id}``,

first with only 10 other projects, then with all of them: the two must cost the
same, since a project's views read only its own rows and what is shared with it.

    .venv/bin/python bench/scoped_views.py                 # 100,000 networks, 1,000 projects
    .venv/bin/python bench/scoped_views.py --networks 20000 --images 20000
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from bench._benchlib import Database, summarize_ms  # noqa: E402
from cascade import config  # noqa: E402
from cascade.app import create_app  # noqa: E402
from cascade.auth.identity import NoAuth  # noqa: E402
from cascade.db import engine as db_engine  # noqa: E402
from cascade.db import migrate  # noqa: E402
from cascade.db.models import Resource, derived_columns  # noqa: E402

ME = "bench-me"
HEADERS = {"X-Auth-Token": f"u-me:{ME}"}
NOW = "2026-12-04T00:00:00Z"


def _network(project: str, i: int, shared: bool = False) -> dict[str, Any]:
    attrs = {"name": f"net-{i}", "shared": shared, "admin_state_up": True,
             "status": "ACTIVE", "mtu": 1450, "tags": [], "description": "",
             "port_security_enabled": True, "availability_zone_hints": [],
             "created_at": NOW, "updated_at": NOW, "revision_number": 0}
    return _row("network", project, attrs, {})


def _image(project: str, i: int, visibility: str = "private") -> dict[str, Any]:
    spec = {"name": f"img-{i}", "visibility": visibility, "disk_format": "raw",
            "container_format": "bare", "tags": [], "properties": {}, "min_disk": 0,
            "min_ram": 0, "protected": False, "os_hidden": False}
    return _row("image", project, {"created_at": NOW, "updated_at": NOW, "members": {}},
                spec, status="queued")


def _row(type_: str, project: str, attrs: dict[str, Any], spec: dict[str, Any],
         status: str = "ACTIVE") -> dict[str, Any]:
    parent, beyond = derived_columns(type_, attrs, spec)
    return {"global_id": str(uuid.uuid4()), "type": type_, "project_id": project,
            "user_id": "u", "spec": spec, "attrs": attrs, "status": status,
            "parent_id": parent, "beyond_project": beyond}


async def _fill(sessions: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 5000):
        async with sessions.begin() as session:
            await session.execute(insert(Resource), rows[start:start + 5000])


async def _measure(client: TestClient, paths: list[str], rounds: int) -> dict[str, Any]:
    out = {}
    for path in paths:
        for _ in range(5):  # warm
            await client.get(path, headers=HEADERS)
        took = []
        for _ in range(rounds):
            started = time.perf_counter()
            resp = await client.get(path, headers=HEADERS)
            await resp.read()
            took.append(time.perf_counter() - started)
            assert resp.status == 200, (path, resp.status)
        label = path if path.count("/") <= 3 else path.rsplit("/", 1)[0] + "/{id}"
        stats = summarize_ms(took)
        out[label] = {k: round(stats[k], 2) for k in ("p50", "p90", "p99")}
    return out


def main(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="cascade-bench-scope-"))
    with Database(args.db, work, args.pg_dsn) as db:
        return asyncio.run(_run(args, db.url, work))


async def _run(args: argparse.Namespace, db_url: str, work: Path) -> dict[str, Any]:
    if True:
        conf_file = work / "cascade.conf"
        conf_file.write_text(f"[DEFAULT]\nstate_path = {work}\n[database]\nconnection = "
                             f"{db_url}\n[api]\nauth_strategy = noauth\n"
                             "[service_credentials]\npassword = bench\n")
        conf = config.load(["--config-file", str(conf_file)])
        engine = db_engine.make_engine(conf)
        await migrate.upgrade(engine)
        sessions = db_engine.make_sessionmaker(engine)
        mine = [_network(ME, i) for i in range(10)] + [_image(ME, i) for i in range(10)]
        shared = [_network("bench-owner", i, shared=True) for i in range(5)] + [
            _image("bench-owner", i, "public") for i in range(5)]
        await _fill(sessions, mine + shared)
        app = create_app(conf, authenticator=NoAuth(), background=False)
        client = TestClient(TestServer(app))
        await client.start_server()
        net_id, image_id = mine[0]["global_id"], mine[10]["global_id"]
        paths = ["/networking/v2.0/networks", f"/networking/v2.0/networks/{net_id}",
                 "/image/v2/images", f"/image/v2/images/{image_id}"]
        results: dict[str, Any] = {}
        try:
            few = [_network(f"p{p}", i) for p in range(10) for i in range(10)]
            await _fill(sessions, few)
            results["10 other projects"] = await _measure(client, paths, args.rounds)
            per = max(args.networks // args.projects, 1)
            started = time.perf_counter()
            batch: list[dict[str, Any]] = []
            for p in range(args.projects):
                batch += [_network(f"q{p}", i) for i in range(per)]
                batch += [_image(f"q{p}", i) for i in range(max(args.images // args.projects,
                                                                1))]
                if len(batch) >= 20000:
                    await _fill(sessions, batch)
                    batch = []
            await _fill(sessions, batch)
            filled = time.perf_counter() - started
            async with engine.connect() as conn:
                await conn.exec_driver_sql("ANALYZE resources" if args.db == "postgresql"
                                           else "ANALYZE")
            key = f"{args.projects} other projects"
            results[key] = await _measure(client, paths, args.rounds)
            results["fill_seconds"] = round(filled, 1)
        finally:
            await client.close()
            await engine.dispose()
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--pg-dsn", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--networks", type=int, default=100_000)
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=200)
    print(json.dumps(main(parser.parse_args()), indent=2))
