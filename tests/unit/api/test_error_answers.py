"""What the root middleware answers when a handler fails: a concurrent change is a
409 in the service's own format, an unknown failure a 500 without a traceback."""
from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.orm import exc as orm_exc

from cascade.api.middleware import api_middleware, public
from cascade.appkeys import URLS


def _app(failure: BaseException) -> web.Application:
    @public
    async def handler(request: web.Request) -> web.Response:
        raise failure

    app = web.Application(middlewares=[api_middleware])
    app[URLS] = {}
    app.router.add_get("/compute/v2.1/servers/detail", handler)
    app.router.add_get("/networking/v2.0/ports", handler)
    return app


async def _get(app: web.Application, path: str) -> tuple[int, Any, str]:
    async with TestClient(TestServer(app)) as client:
        resp = await client.get(path)
        return resp.status, await resp.json(), resp.headers["x-openstack-request-id"]


async def test_a_row_removed_by_a_concurrent_request_is_a_409_to_retry() -> None:
    app = _app(orm_exc.StaleDataError("UPDATE statement on table 'resources' expected to "
                                      "update 1 row(s); 0 were matched."))
    status, body, request_id = await _get(app, "/compute/v2.1/servers/detail")
    assert status == 409 and request_id.startswith("req-")
    assert body["conflictingRequest"]["code"] == 409
    assert "try again" in body["conflictingRequest"]["message"]
    assert "StaleDataError" not in str(body) and "resources" not in str(body)
    status, body, _ = await _get(app, "/networking/v2.0/ports")
    assert status == 409 and body["NeutronError"]["type"], body


async def test_an_unknown_failure_is_a_500_that_shows_no_internals() -> None:
    status, body, _ = await _get(_app(KeyError("secret_column")),
                                 "/compute/v2.1/servers/detail")
    assert status == 500 and "secret_column" not in str(body)
    assert body["computeFault"]["code"] == 500
