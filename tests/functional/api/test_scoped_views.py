"""One project's network, subnet and image views read only its own rows and what
is shared with it, never other projects' private rows (SQLite and PostgreSQL):
counted as the ORM loads them while 300 foreign rows sit in the database."""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import event, insert

from cascade.appkeys import SESSIONS
from cascade.db.models import Resource, derived_columns
from tests.fakes.region import FakeRegion
from tests.functional.gateway import ADMIN, DEMO, gateway_app, gateway_conf


def _row(type_: str, project: str, attrs: dict[str, Any], spec: dict[str, Any]
         ) -> dict[str, Any]:
    parent, beyond = derived_columns(type_, attrs, spec)
    return {"global_id": str(uuid.uuid4()), "type": type_, "project_id": project,
            "user_id": "u", "spec": spec, "attrs": attrs, "status": "ACTIVE",
            "parent_id": parent, "beyond_project": beyond}


@pytest.fixture
def loaded() -> Iterator[list[tuple[str, str]]]:
    """(project, global id) of every resource row the ORM loads in this process."""
    seen: list[tuple[str, str]] = []

    def on_load(target: Resource, _context: Any) -> None:
        seen.append((target.project_id, target.global_id))

    event.listen(Resource, "load", on_load)
    yield seen
    event.remove(Resource, "load", on_load)


async def test_views_never_read_other_projects_private_rows(
        aiohttp_server: Any, aiohttp_client: Any, migrated_db: str, tmp_path: Path,
        loaded: list[tuple[str, str]]) -> None:
    fake = FakeRegion("RegionOne")
    srv = await aiohttp_server(fake.app())
    fake.base = str(srv.make_url("")).rstrip("/")
    client = await aiohttp_client(gateway_app(gateway_conf(
        tmp_path, migrated_db, {"RegionOne": fake.base})))
    mine = await (await client.post("/networking/v2.0/networks", headers=DEMO,
                                    json={"network": {"name": "mine"}})).json()
    image = {"name": "i", "visibility": "private", "disk_format": "raw",
             "container_format": "bare"}
    shared_net = _row("network", "owner", {"name": "shared", "shared": True}, {})
    foreign = [shared_net,
               _row("subnet", "owner", {"network_id": shared_net["global_id"],
                                        "cidr": "10.5.0.0/24"}, {})]
    for i in range(100):
        net = _row("network", f"other{i}", {"name": f"n{i}", "shared": False}, {})
        foreign += [net, _row("subnet", f"other{i}", {"network_id": net["global_id"],
                                                      "cidr": "10.6.0.0/24"}, {}),
                    _row("image", f"other{i}", {"members": {}}, image)]
    async with client.server.app[SESSIONS].begin() as session:
        await session.execute(insert(Resource), foreign)
    loaded.clear()
    for path in ("/networking/v2.0/networks", "/networking/v2.0/subnets",
                 f"/networking/v2.0/networks/{mine['network']['id']}", "/image/v2/images"):
        resp = await client.get(path, headers=DEMO)
        assert resp.status == 200, await resp.text()
    projects = {project for project, _ in loaded}
    assert projects <= {"demo", "owner"}, sorted(projects)[:5]
    listed = await (await client.get("/networking/v2.0/networks", headers=DEMO)).json()
    assert {n["name"] for n in listed["networks"]} == {"mine", "shared"}
    subnets = await (await client.get("/networking/v2.0/subnets", headers=DEMO)).json()
    assert [s["cidr"] for s in subnets["subnets"]] == ["10.5.0.0/24"]


async def test_id_owner_and_parent_filters_are_read_in_sql(
        aiohttp_server: Any, aiohttp_client: Any, migrated_db: str, tmp_path: Path,
        loaded: list[tuple[str, str]]) -> None:
    """An admin's filtered lists load only the rows the filter names (the id, owner
    and parent filters narrow the SQL), and answer as the whole list filtered does."""
    fake = FakeRegion("RegionOne")
    srv = await aiohttp_server(fake.app())
    fake.base = str(srv.make_url("")).rstrip("/")
    client = await aiohttp_client(gateway_app(gateway_conf(
        tmp_path, migrated_db, {"RegionOne": fake.base})))
    image = {"name": "i", "visibility": "public", "disk_format": "raw",
             "container_format": "bare"}
    rows = []
    for i in range(60):
        net = _row("network", f"p{i}", {"name": f"n{i}", "shared": False}, {})
        rows += [net, _row("subnet", f"p{i}", {"network_id": net["global_id"],
                                               "cidr": "10.6.0.0/24"}, {}),
                 _row("image", f"p{i}", {"members": {}}, image)]
    async with client.server.app[SESSIONS].begin() as session:
        await session.execute(insert(Resource), rows)
    ours = {row["global_id"] for row in rows}
    net7, sub7, img7 = rows[21:24]
    img9 = rows[29]

    async def listed(path: str, collection: str) -> list[str]:
        loaded.clear()
        resp = await client.get(path, headers=ADMIN)
        assert resp.status == 200, await resp.text()
        return sorted(o["id"] for o in (await resp.json())[collection])

    cases = [
        (f"/networking/v2.0/networks?id={net7['global_id']}", "networks",
         [net7["global_id"]]),
        ("/networking/v2.0/networks?project_id=p7", "networks", [net7["global_id"]]),
        (f"/networking/v2.0/subnets?network_id={net7['global_id']}", "subnets",
         [sub7["global_id"]]),
        ("/image/v2/images?owner=p7", "images", [img7["global_id"]]),
        (f"/image/v2/images?id=in:{img7['global_id']},{img9['global_id']}", "images",
         sorted([img7["global_id"], img9["global_id"]])),
    ]
    for path, collection, want in cases:
        assert await listed(path, collection) == want, path
        # the rows named, and for a network its subnet (its view lists subnets);
        # only this test's rows count (the listener hears the whole process)
        read = [gid for _, gid in loaded if gid in ours]
        assert len(read) <= 2, (path, len(read))
    # a marker outside the narrowed rows still says where the page starts: the
    # image just before some owner's image, in the listed order (never the first:
    # ids are random, so any one image may sort first)
    ordered = await (await client.get("/image/v2/images?sort=name:asc,id:asc&limit=100",
                                      headers=ADMIN)).json()
    ids = [i["id"] for i in ordered["images"]]
    owner_of = {row["global_id"]: row["project_id"] for row in rows
                if row["type"] == "image"}
    target = next(i for i in ids[1:] if i in owner_of)
    after = ids[ids.index(target) - 1]
    got = await listed(f"/image/v2/images?sort=name:asc,id:asc&owner={owner_of[target]}"
                       f"&marker={after}", "images")
    assert got == [target]
