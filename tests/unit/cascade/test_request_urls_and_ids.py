"""Request ids and public base URLs: the per-request helpers of the root middleware."""
from __future__ import annotations

import uuid
from unittest import mock

from cascade.context import RequestContext, new_request_id
from cascade.public_urls import PublicUrls


def test_request_ids_are_distinct_version_4_uuids_in_openstack_form() -> None:
    ids = {new_request_id() for _ in range(2000)}
    assert len(ids) == 2000
    for rid in ids:
        assert rid.startswith("req-") and len(rid) == 40
        parsed = uuid.UUID(rid[4:])
        assert str(parsed) == rid[4:]
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_request_context_is_immutable_and_knows_admins() -> None:
    ctx = RequestContext(request_id="req-1", project_id="p", user_id="u", roles=("admin",))
    assert ctx.is_admin and not ctx._replace(roles=("member",)).is_admin
    try:
        ctx.project_id = "other"  # type: ignore[misc]
    except AttributeError:
        pass
    else:
        raise AssertionError("a request context must not change")


def _request(host: str, scheme: str = "http") -> mock.Mock:
    return mock.Mock(host=host, scheme=scheme)


def test_configured_public_url_wins_over_the_host_header() -> None:
    urls = PublicUrls("https://cloud.example.org:8080/")
    assert urls.base(_request("evil:1")) == "https://cloud.example.org:8080"


def test_base_follows_the_request_and_its_memory_is_bounded() -> None:
    urls = PublicUrls(None)
    assert urls.base(_request("127.0.0.1:28080")) == "http://127.0.0.1:28080"
    assert urls.base(_request("gw:443", "https")) == "https://gw:443"
    for n in range(1000):  # the Host header is the caller's to choose
        assert urls.base(_request(f"h{n}")) == f"http://h{n}"
    assert len(urls._seen) <= PublicUrls._MAX
