"""A Keystone that hangs costs a caller ``[api] auth_timeout``, then a 503 in the
service's format: real keystonemiddleware, against a socket that never answers."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from cascade.app import create_app
from cascade.auth.keystone import KeystoneAuth
from tests.fakes.region import FakeRegion
from tests.functional.gateway import gateway_conf


@pytest.fixture
async def hung_keystone() -> AsyncIterator[str]:
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # read nothing, answer nothing

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/v3"
    for writer in held:
        writer.close()
    server.close()


async def test_a_hung_keystone_gives_503_within_the_auth_deadline(
        aiohttp_server: Any, aiohttp_client: Any, migrated_db: str, tmp_path: Path,
        hung_keystone: str) -> None:
    fake = FakeRegion("RegionOne")
    srv = await aiohttp_server(fake.app())
    fake.base = str(srv.make_url("")).rstrip("/")
    conf = gateway_conf(tmp_path, migrated_db, {"RegionOne": fake.base}, extra=(
        "[keystone_authtoken]\n"
        f"www_authenticate_uri = {hung_keystone}\nauth_url = {hung_keystone}\n"
        "auth_type = password\nusername = cascade\npassword = x\nproject_name = service\n"
        "user_domain_name = Default\nproject_domain_name = Default\n"))
    conf.set_override("auth_timeout", 0.5, group="api")
    auth = KeystoneAuth(conf)
    client = await aiohttp_client(create_app(conf, authenticator=auth, migrate_db=True,
                                             background=False))
    try:
        started = time.monotonic()
        resp = await client.get("/networking/v2.0/networks",
                                headers={"X-Auth-Token": "some-token"})
        took = time.monotonic() - started
        body = await resp.json()
        assert resp.status == 503, body
        assert body["NeutronError"]["message"]
        assert resp.headers["x-openstack-request-id"].startswith("req-")
        assert took < 5, took  # the deadline, not keystonemiddleware's own retries
    finally:
        await auth.close()
