"""Keypairs: stored by Cascade, made present in a region when a server there uses one.

Nova keypairs belong to a user. Cascade keeps them as resources of type
``keypair`` whose id is derived from (user, name), so the primary key itself
refuses a duplicate, even under concurrent creates. Each counts one
``key_pairs`` against the project of its creator, charged in the transaction
that stores it and given back in the one that deletes it.
"""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import re
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import errors
from cascade.compute.versions import at_least
from cascade.context import RequestContext
from cascade.db.models import Resource
from cascade.quota import ledger
from cascade.quota.service import QuotaService
from cascade.regions import paths
from cascade.regions.client import RegionClient
from cascade.quota.forget import forget

__all__ = ["Keypairs", "fingerprint"]

KEYPAIR = "keypair"
_NAMESPACE = uuid.UUID("3d6f0a52-8f35-4c55-9d2c-4b1f1c0b7a11")
#: Nova's keypair name patterns: before 2.92, and from 2.92 on (``@`` and ``.`` too).
_NAME_PATTERN = r"^[_\- a-zA-Z0-9]+$"
_NAME_PATTERN_292 = r"^[_\-\@\. a-zA-Z0-9]+$"
#: Microversion that carries ``type`` in keypair bodies (and 201/204 answers).
_TYPE_MICROVERSION = "2.2"
#: What one keypair counts against its project's quota, and Nova's words when full.
_USAGE = {"key_pairs": 1}
_OVER_QUOTA = "Quota exceeded, too many key pairs."


def fingerprint(public_key: str) -> str:
    """The MD5 fingerprint Nova shows for an OpenSSH public key.

    :raises BadRequest: not an OpenSSH public key (parsed as Nova parses it, so a
        key of junk or of an impossible size is refused as there).
    """
    from cryptography.hazmat.primitives import serialization

    parts = public_key.strip().split()
    if len(parts) < 2:
        raise errors.BadRequest("Keypair data is invalid: failed to generate fingerprint")
    try:
        serialization.load_ssh_public_key(" ".join(parts[:2]).encode())
    except (ValueError, TypeError, UnicodeEncodeError):
        raise errors.BadRequest(
            "Keypair data is invalid: failed to generate fingerprint") from None
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except ValueError:
        raise errors.BadRequest(
            "Keypair data is invalid: failed to generate fingerprint") from None
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def _generate() -> tuple[str, str]:
    """A new RSA keypair: (public OpenSSH, private PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return public, private


def _key_id(user_id: str, name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{user_id}\n{name}"))


def _view(res: Resource, microversion: str, *, detail: bool = True) -> dict[str, Any]:
    """A keypair as Nova shows it: list entries without ``user_id`` and the record's
    fields; ``type`` from 2.2 on."""
    spec = res.spec
    out = {"name": spec["name"], "public_key": spec["public_key"],
           "fingerprint": spec["fingerprint"]}
    if at_least(microversion, _TYPE_MICROVERSION):
        out["type"] = spec.get("type", "ssh")
    if detail:
        out.update({"user_id": res.user_id, "created_at": spec.get("created_at"),
                    "deleted": False, "deleted_at": None, "updated_at": None,
                    "id": spec.get("serial", 0)})
    return out


def _invalid(field: str, value: Any, why: str) -> errors.BadRequest:
    """Nova's words for a body its JSON schema refuses."""
    return errors.BadRequest(f"Invalid input for field/attribute {field}. Value: {value}. "
                             f"{why}")


def _check_create(req: Any, microversion: str) -> None:
    """Nova's create schema for this microversion: the fields it knows (``type``
    from 2.2, ``user_id`` from 2.10), ``public_key`` required from 2.92, the name
    pattern (``@`` and ``.`` allowed from 2.92).

    :raises BadRequest: in Nova's words.
    """
    if not isinstance(req, dict):
        raise _invalid("keypair", req, f"{req!r} is not of type 'object'")
    known = {"name", "public_key"}
    if at_least(microversion, _TYPE_MICROVERSION):
        known.add("type")
    if at_least(microversion, "2.10"):
        known.add("user_id")
    extra = [k for k in req if k not in known]
    if extra:
        listed = ", ".join(repr(k) for k in extra)
        verb = "was" if len(extra) == 1 else "were"
        raise _invalid("keypair", req,
                       f"Additional properties are not allowed ({listed} {verb} unexpected)")
    required = ["name", "public_key"] if at_least(microversion, "2.92") else ["name"]
    for key in required:
        if key not in req:
            raise _invalid("keypair", req, f"{key!r} is a required property")
    name = req["name"]
    if not isinstance(name, str):
        raise _invalid("name", name, f"{name!r} is not of type 'string'")
    pattern = _NAME_PATTERN_292 if at_least(microversion, "2.92") else _NAME_PATTERN
    if not name:
        raise _invalid("name", name, f"{name!r} should be non-empty")
    if len(name) > 255:
        raise _invalid("name", name, f"{name!r} is too long")
    if re.match(pattern, name) is None:
        raise _invalid("name", name, f"{name!r} does not match {pattern!r}")


class Keypairs:
    """Create, import, list, show, delete keypairs; ensure them in regions."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 client: RegionClient, quotas: QuotaService) -> None:
        self._sessions = sessions
        self._client = client
        self._quotas = quotas

    def _owner(self, ctx: RequestContext, user_id: str | None, action: str) -> str:
        """The user whose keypairs the call is about (another's: by policy).

        :raises PolicyForbidden: ``os_compute_api:os-keypairs:<action>`` refused.
        """
        owner = user_id or ctx.user_id
        ctx.can(f"os_compute_api:os-keypairs:{action}",
                {"user_id": owner, "project_id": ctx.project_id})
        return owner

    async def create(self, ctx: RequestContext, body: Any, microversion: str = "2.1",
                     user_id: str | None = None) -> dict[str, Any]:
        """Import (public_key given) or generate a keypair; the answer as Nova's for
        ``microversion`` (no record fields; ``type`` from 2.2).

        :raises BadRequest: bad name, type or key.
        :raises Conflict: the user already has a keypair of that name.
        :raises OverQuota: the project has as many keypairs as its key_pairs limit.
        """
        if not isinstance(body, dict) or not isinstance(body.get("keypair"), dict):
            raise errors.BadRequest("Invalid input for field/attribute keypair.")
        req = body["keypair"]
        _check_create(req, microversion)
        name = req["name"]
        if not name.strip():
            raise errors.BadRequest("Keypair data is invalid: Keypair name contains unsafe "
                                    "characters or is not 1-255 characters")
        kind = req.get("type", "ssh")
        if kind not in ("ssh", "x509"):
            raise errors.BadRequest(f"Invalid input for field/attribute type. Value: {kind}.")
        owner = self._owner(ctx, req.get("user_id") or user_id, "create")
        private = None
        public = req.get("public_key")
        if public is None:
            # RSA key generation takes tens of milliseconds of CPU: not on the loop.
            public, private = await asyncio.to_thread(_generate)
        elif not isinstance(public, str):
            raise errors.BadRequest("Invalid input for field/attribute public_key.")
        spec = {"name": name, "public_key": public.strip(), "type": kind,
                "fingerprint": fingerprint(public),
                "created_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")}
        res = Resource(global_id=_key_id(owner, name), type=KEYPAIR, project_id=ctx.project_id,
                       user_id=owner, spec=spec, attrs={}, status="active", usage=dict(_USAGE))
        try:
            async with self._sessions.begin() as session:
                session.add(res)
                # The row first: a duplicate fails before the usage row is locked.
                await session.flush()
                await ledger.charge(session, ctx.project_id, _USAGE,
                                    defaults=self._quotas.defaults, message=_OVER_QUOTA)
        except IntegrityError:
            raise errors.Conflict(f"Key pair '{name}' already exists.") from None
        view = _view(res, microversion, detail=False)
        view["user_id"] = owner
        if private is not None:
            view["private_key"] = private
        return view

    async def _get(self, session: AsyncSession, owner: str, name: str) -> Resource:
        res = await session.get(Resource, _key_id(owner, name))
        if res is None or res.type != KEYPAIR:
            raise errors.NotFound(f"Keypair {name} not found for user {owner}")
        return res

    async def show(self, ctx: RequestContext, name: str, microversion: str = "2.1",
                   user_id: str | None = None) -> dict[str, Any]:
        """:raises NotFound: no such keypair for the user."""
        owner = self._owner(ctx, user_id, "show")
        async with self._sessions() as session:
            return _view(await self._get(session, owner, name), microversion)

    async def list(self, ctx: RequestContext, microversion: str = "2.1",
                   user_id: str | None = None) -> list[dict[str, Any]]:
        owner = self._owner(ctx, user_id, "index")
        async with self._sessions() as session:
            rows = (await session.scalars(select(Resource).where(
                Resource.type == KEYPAIR, Resource.user_id == owner))).all()
        return [{"keypair": _view(r, microversion, detail=False)}
                for r in sorted(rows, key=lambda r: r.spec["name"])]

    async def delete(self, ctx: RequestContext, name: str, user_id: str | None = None) -> None:
        """Forget the keypair. Copies in regions stay (servers may still use them),
        as a keypair deleted in Nova stays injected in existing servers.

        :raises NotFound: no such keypair for the user.
        """
        owner = self._owner(ctx, user_id, "delete")
        async with self._sessions.begin() as session:
            res = await self._get(session, owner, name)
            await forget(session, res.global_id)  # gives key_pairs back

    async def ensure_in_region(self, ctx: RequestContext, name: str, region: str) -> None:
        """Make the caller's keypair ``name`` present (same public key) in ``region``.

        :raises BadRequest: the caller has no such keypair ("Invalid key_name provided.").
        """
        async with self._sessions() as session:
            try:
                res = await self._get(session, ctx.user_id, name)
            except errors.NotFound:
                raise errors.BadRequest("Invalid key_name provided.") from None
        spec = res.spec
        try:
            resp = await self._client.get(ctx, region, "compute", paths.build("os-keypairs", name))
            if (resp.body or {}).get("keypair", {}).get("fingerprint") == spec["fingerprint"]:
                return
            await self._client.delete(ctx, region, "compute", paths.build("os-keypairs", name))
        except errors.RegionHTTPError as exc:
            if exc.status != 404:
                raise
        body = {"keypair": {"name": name, "public_key": spec["public_key"],
                            "type": spec.get("type", "ssh")}}
        try:
            await self._client.post(ctx, region, "compute", "/os-keypairs", json=body,
                                    microversion=_TYPE_MICROVERSION)
        except errors.RegionHTTPError as exc:
            if exc.status != 409:  # a concurrent boot imported it first
                raise
