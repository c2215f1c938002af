"""keystonemiddleware ``auth_token`` behind an async adapter.

The middleware is a blocking WSGI filter. We hand it a minimal WSGI environ in a
worker thread, in ``delay_auth_decision`` mode so it never answers by itself, and
read back the identity headers it sets. Its own token cache (memcache or in
process) still applies; on top, validated identities are reused for
``[api] auth_cache_seconds`` (never past token expiry) so the hot path does not
even hop to a thread.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable

from keystonemiddleware import auth_token
from oslo_config import cfg

from cascade import errors
from cascade.auth.identity import Identity

__all__ = ["KeystoneAuth"]

LOG = logging.getLogger(__name__)

_CACHE_MAX = 10000


def _captured_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("204 No Content", [])
    return [b""]


class KeystoneAuth:
    """Validates tokens with keystonemiddleware in a small thread pool."""

    def __init__(self, conf: cfg.ConfigOpts, *, threads: int = 4) -> None:
        self._mw = auth_token.AuthProtocol(
            _captured_app, {"oslo_config_config": conf, "delay_auth_decision": True})
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="auth")
        self._ttl = dt.timedelta(seconds=conf.api.auth_cache_seconds)
        self._deadline = conf.api.auth_timeout
        self._cache: OrderedDict[str, tuple[dt.datetime, Identity]] = OrderedDict()

    def _validate(self, token: str) -> Identity | None:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "GET", "PATH_INFO": "/", "SERVER_NAME": "cascade",
            "SERVER_PORT": "80", "wsgi.url_scheme": "http", "HTTP_X_AUTH_TOKEN": token,
            "wsgi.input": None,
        }
        self._mw(environ, lambda *a, **k: None)
        if environ.get("HTTP_X_IDENTITY_STATUS") != "Confirmed":
            return None
        expires = None
        info = environ.get("keystone.token_info") or {}
        raw = (info.get("token") or {}).get("expires_at")
        if raw:
            expires = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return Identity(
            project_id=environ.get("HTTP_X_PROJECT_ID", ""),
            user_id=environ.get("HTTP_X_USER_ID", ""),
            roles=tuple(r for r in environ.get("HTTP_X_ROLES", "").split(",") if r),
            project_name=environ.get("HTTP_X_PROJECT_NAME"),
            user_name=environ.get("HTTP_X_USER_NAME"),
            expires_at=expires,
        )

    async def authenticate(self, token: str) -> Identity | None:
        """The token's identity, or None when Keystone does not confirm it.

        :raises ServiceUnavailable: Keystone did not answer within
            ``[api] auth_timeout`` (the thread finishes on its own; the caller
            does not wait for it).
        """
        key = hashlib.sha256(token.encode()).hexdigest()
        now = dt.datetime.now(dt.timezone.utc)
        hit = self._cache.get(key)
        if hit is not None:
            if hit[0] > now:
                self._cache.move_to_end(key)
                return hit[1]
            del self._cache[key]
        loop = asyncio.get_running_loop()
        try:
            identity = await asyncio.wait_for(
                loop.run_in_executor(self._pool, self._validate, token), self._deadline)
        except asyncio.TimeoutError:
            LOG.warning("token validation took longer than %.1f s", self._deadline)
            raise errors.ServiceUnavailable("The identity service did not answer in "
                                            "time; try again later.") from None
        if identity is not None and self._ttl:
            until = now + self._ttl
            if identity.expires_at is not None:
                until = min(until, identity.expires_at)
            self._cache[key] = (until, identity)
            if len(self._cache) > _CACHE_MAX:
                self._cache.popitem(last=False)
        return identity

    async def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
