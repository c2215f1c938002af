"""SQLAlchemy 2 models: regions, resources, placements, jobs, quota (ARCHITECTURE.md section 2).

Relationships are ``lazy="raise"`` on purpose: an async session must never do
implicit I/O, so every load is spelled out in the query that needs it.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer,
                        MetaData, String, Text, UniqueConstraint, event, false, func, text)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = ["Base", "Region", "Resource", "Placement", "Job",
           "QuotaLimit", "QuotaUsage", "Reservation", "RegionHealthEvent", "SyncWatermark",
           "IpAllocation", "ServerTombstone",
           "PlacementState", "JobState", "HealthState"]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")
#: JSON where Python None is SQL NULL (not the JSON value ``null``).
NullableJSON = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
UUIDStr = String(36)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Base(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSONType}


class HealthState:
    UNKNOWN = "unknown"
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


class PlacementState:
    CREATING = "creating"
    ACTIVE = "active"
    DELETING = "deleting"
    ERROR = "error"


class JobState:
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD = "dead"
    CANCELLED = "cancelled"
    ACTIVE = (QUEUED, RUNNING)


class _Timestamps:
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, onupdate=_now, server_default=func.now())


class Region(_Timestamps, Base):
    """A regional OpenStack cloud below Cascade."""

    __tablename__ = "regions"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    #: Zone name tenants see through Cascade; unique across regions.
    availability_zone: Mapped[str] = mapped_column(String(255), unique=True)
    #: Zone asked for inside the region (None: let the region choose).
    local_availability_zone: Mapped[Optional[str]] = mapped_column(String(255))
    compute_endpoint: Mapped[Optional[str]] = mapped_column(String(1024))
    image_endpoint: Mapped[Optional[str]] = mapped_column(String(1024))
    network_endpoint: Mapped[Optional[str]] = mapped_column(String(1024))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    health: Mapped[str] = mapped_column(String(16), default=HealthState.UNKNOWN)
    health_since: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    #: Discovered: compute min/max microversion, image and network versions.
    capabilities: Mapped[dict[str, Any]] = mapped_column(default=dict)
    notification_transport_url: Mapped[Optional[str]] = mapped_column(String(1024))
    #: "config" when registered from cascade.conf, "api" through /v1/regions.
    source: Mapped[str] = mapped_column(String(16), default="api")
    #: Probes failed / succeeded in a row: health changes only after several.
    probe_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    probe_successes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Resource(_Timestamps, Base):
    """A global object Cascade owns; ``global_id`` is what tenants see."""

    __tablename__ = "resources"

    global_id: Mapped[str] = mapped_column(UUIDStr, primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    project_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[Optional[str]] = mapped_column(String(64))
    #: The create request, normalised.
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Cached attributes for lists, quota and down-region answers.
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(32))
    #: What this resource counts against its project's quota, e.g.
    #: ``{"instances": 1, "cores": 2, "ram": 512}``; the ledger's truth source.
    usage: Mapped[Optional[dict[str, Any]]] = mapped_column(NullableJSON)
    #: What this object belongs to: a subnet's or port's network, a rule's group.
    #: Derived from ``attrs`` on every ORM write (``derived_columns``).
    parent_id: Mapped[Optional[str]] = mapped_column(UUIDStr)
    #: Visible outside its project: a shared or external network; a public,
    #: community or member-shared image. Derived on every ORM write, so the
    #: views of one project query by index and never read other projects' rows.
    beyond_project: Mapped[bool] = mapped_column(Boolean, default=False,
                                                 server_default=false())

    placements: Mapped[list["Placement"]] = relationship(
        back_populates="resource", lazy="raise", cascade="all, delete-orphan",
        passive_deletes=True)

    __table_args__ = (Index("ix_resources_project_type", "project_id", "type"),
                      Index("ix_resources_type_parent", "type", "parent_id"),
                      Index("ix_resources_type_beyond", "type", "beyond_project"))


class Placement(_Timestamps, Base):
    """Where a resource lives: one row per (resource, region)."""

    __tablename__ = "placements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    global_id: Mapped[str] = mapped_column(
        UUIDStr, ForeignKey("resources.global_id", ondelete="CASCADE"))
    #: Denormalised from the resource so (type, region, local_id) can be unique.
    resource_type: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(255), ForeignKey("regions.name"))
    #: The region's id; NULL until the regional create answered.
    local_id: Mapped[Optional[str]] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default=PlacementState.CREATING)
    lease_owner: Mapped[Optional[str]] = mapped_column(String(255))
    lease_expires: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))

    resource: Mapped[Resource] = relationship(back_populates="placements", lazy="raise")

    __table_args__ = (
        UniqueConstraint("global_id", "region"),
        UniqueConstraint("resource_type", "region", "local_id"),
        Index("ix_placements_region_state", "region", "state"),
    )


class Job(_Timestamps, Base):
    """Durable work for sync workers, written in the transaction it serves."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64))
    #: Same key while queued or running means the same work: a second request joins.
    dedupe_key: Mapped[Optional[str]] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, server_default=func.now())
    lease_owner: Mapped[Optional[str]] = mapped_column(String(255))
    lease_expires: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True))
    progress_done: Mapped[Optional[int]] = mapped_column(BigInteger)
    progress_total: Mapped[Optional[int]] = mapped_column(BigInteger)
    last_error: Mapped[Optional[str]] = mapped_column(Text)

    __table_args__ = (
        Index("uq_jobs_active_dedupe_key", "dedupe_key", unique=True,
              postgresql_where=text("state IN ('queued', 'running')"),
              sqlite_where=text("state IN ('queued', 'running')")),
        Index("ix_jobs_state_run_after", "state", "run_after"),
    )


class QuotaLimit(Base):
    """A project's limit for one resource, where it differs from the default."""

    __tablename__ = "quota_limits"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: -1 means unlimited.
    hard_limit: Mapped[int] = mapped_column(Integer)


class QuotaUsage(Base):
    """The ledger: what a project uses (``in_use``) and what creates in flight hold."""

    __tablename__ = "quota_usages"

    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    in_use: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, onupdate=_now, server_default=func.now())


class Reservation(Base):
    """One resource's share of an admission, held until committed, released or expired."""

    __tablename__ = "reservations"

    id: Mapped[str] = mapped_column(UUIDStr, primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    delta: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, server_default=func.now())
    #: Committed: the resource is written and counts as in use; the usage row
    #: still holds it in ``reserved`` until the next fold (``cascade.quota.settlement``).
    committed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (Index("ix_reservations_expires_at", "expires_at"),
                      Index("ix_reservations_project_id", "project_id"))


class RegionHealthEvent(Base):
    """One change of a region's health, kept as its history."""

    __tablename__ = "region_health_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    region: Mapped[str] = mapped_column(String(255),
                                        ForeignKey("regions.name", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[Optional[str]] = mapped_column(Text)

    __table_args__ = (Index("ix_region_health_events_region_at", "region", "at"),)


class SyncWatermark(Base):
    """Up to when a region's changes of one kind have been reconciled."""

    __tablename__ = "sync_watermarks"

    region: Mapped[str] = mapped_column(String(255),
                                        ForeignKey("regions.name", ondelete="CASCADE"),
                                        primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


#: Which attribute names an object's parent, per resource type.
PARENT_KEY = {"subnet": "network_id", "port": "network_id",
               "security_group_rule": "security_group_id"}


def derived_columns(type_: str, attrs: dict[str, Any] | None,
                    spec: dict[str, Any] | None) -> tuple[str | None, bool]:
    """(parent_id, beyond_project) of a resource, from its JSON documents."""
    attrs, spec = attrs or {}, spec or {}
    key = PARENT_KEY.get(type_)
    parent = attrs.get(key) if key else None
    if type_ == "network":
        beyond = bool(attrs.get("shared") or attrs.get("router:external"))
    elif type_ == "image":
        visibility = spec.get("visibility", "shared")
        beyond = visibility in ("public", "community") or (
            visibility == "shared" and bool(attrs.get("members")))
    else:
        beyond = False
    return (str(parent) if isinstance(parent, str) and parent else None), beyond


@event.listens_for(Resource, "before_insert")
@event.listens_for(Resource, "before_update")
def _derive(mapper: Any, connection: Any, target: Resource) -> None:
    target.parent_id, target.beyond_project = derived_columns(
        target.type, target.attrs, target.spec)


class IpAllocation(Base):
    """One address of one of Cascade's networks, held by a port (or, until a port
    is known, by the server being booted with it, or by a region's own copy of
    a subnet). The key makes an address unique per network across all regions.
    """

    __tablename__ = "ip_allocations"

    network_id: Mapped[str] = mapped_column(UUIDStr, primary_key=True)
    ip_address: Mapped[str] = mapped_column(String(64), primary_key=True)
    subnet_id: Mapped[str] = mapped_column(UUIDStr)
    #: The global id of the port or server that holds it, or ``region:<name>``.
    holder: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, server_default=func.now())

    __table_args__ = (Index("ix_ip_allocations_subnet_id", "subnet_id"),
                      Index("ix_ip_allocations_holder", "holder"))


class SegmentAllocation(Base):
    """One VLAN id of the physical network every region shares, held by the
    Cascade network that is that segment in each region (a bridge network)."""

    __tablename__ = "segment_allocations"

    physical_network: Mapped[str] = mapped_column(String(64), primary_key=True)
    segmentation_id: Mapped[int] = mapped_column(Integer, primary_key=True,
                                                 autoincrement=False)
    holder: Mapped[str] = mapped_column(UUIDStr)

    __table_args__ = (Index("ix_segment_allocations_holder", "holder", unique=True),)


class ServerTombstone(Base):
    """A deleted server's last mapping, so its action log stays reachable (2.21)."""

    __tablename__ = "server_tombstones"

    global_id: Mapped[str] = mapped_column(UUIDStr, primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(255))
    local_id: Mapped[str] = mapped_column(String(255))
    #: Regional request id -> the one Cascade answered (``compute/action_ids.py``).
    request_ids: Mapped[dict[str, Any]] = mapped_column(default=dict)
    deleted_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=_now, server_default=func.now())

    __table_args__ = (Index("ix_server_tombstones_deleted_at", "deleted_at"),)
