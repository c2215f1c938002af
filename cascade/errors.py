"""One exception tree for Cascade; api/faults.py renders it in each service's format."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

__all__ = ["CascadeError", "ClientError", "BadRequest", "NotFound", "Conflict",
           "Forbidden", "PolicyForbidden", "OverQuota", "RequestTooLarge", "ServiceUnavailable",
           "RegionError", "RegionUnavailable", "RegionTimeout", "RegionHTTPError",
           "MappingNotFound"]


class CascadeError(Exception):
    """Root of every error Cascade raises on purpose. ``status`` is the HTTP answer."""

    status: int = 500

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message or self.__class__.__name__

    @classmethod
    def with_status(cls, status: int, message: str) -> "CascadeError":
        """An error answered with ``status`` (for the rare codes without a class)."""
        err = ClientError(message) if 400 <= status < 500 else cls(message)
        err.status = status
        return err

    def fault(self, service: str) -> tuple[int, str, str | None]:
        """(status, message, Neutron error type) ``service`` answers this error with.

        The same status and message everywhere, except for errors that each
        service words in its own way (``OverQuota``).
        """
        return self.status, self.message, None


class ClientError(CascadeError):
    """The request itself is wrong; the tenant can fix it."""

    status = 400


class BadRequest(ClientError):
    status = 400


class Forbidden(ClientError):
    status = 403


class OverQuota(Forbidden):
    """Admitting the request would take ``resources`` over the project's limits.

    Nova answers 403 ``Quota exceeded for instances: Requested 1, but already
    used 10 of 10 instances``; Neutron 409 ``OverQuota``. ``used`` counts what
    is in use plus what is reserved by creates in flight.
    """

    def __init__(self, resources: Sequence[str], requested: Mapping[str, int],
                 used: Mapping[str, int], limits: Mapping[str, int], *,
                 message: str | None = None) -> None:
        self.resources = sorted(resources)
        self.requested = {r: requested[r] for r in self.resources}
        self.used = {r: used[r] for r in self.resources}
        self.limits = {r: limits[r] for r in self.resources}
        overs = ", ".join(self.resources)

        def join(values: Mapping[str, int]) -> str:
            return ", ".join(str(values[r]) for r in self.resources)

        super().__init__(message or (
            f"Quota exceeded for {overs}: Requested {join(self.requested)}, but already "
            f"used {join(self.used)} of {join(self.limits)} {overs}"))

    def fault(self, service: str) -> tuple[int, str, str | None]:
        if service == "network":
            return 409, f"Quota exceeded for resources: {self.resources!r}.", "OverQuota"
        return self.status, self.message, None


class PolicyForbidden(Forbidden):
    """oslo.policy refused ``rule``; each service words that its own way."""

    def __init__(self, rule: str) -> None:
        super().__init__(f"Policy doesn't allow {rule} to be performed.")
        self.rule = rule

    def fault(self, service: str) -> tuple[int, str, str | None]:
        if service == "network":
            return 403, f"(rule:{self.rule}) is disallowed by policy", "PolicyNotAuthorized"
        if service == "image":
            return 403, f"You are not authorized to complete {self.rule} action.", None
        return self.status, self.message, None


class NotFound(ClientError):
    status = 404


class Conflict(ClientError):
    status = 409


class RequestTooLarge(ClientError):
    status = 413


class ServiceUnavailable(CascadeError):
    """Cascade cannot serve this now (e.g. the only region that could is down)."""

    status = 503


class MappingNotFound(NotFound):
    """No mapping for this global id in the caller's project."""


class RegionError(CascadeError):
    """A call to a region failed. ``region`` names it."""

    status = 503

    def __init__(self, region: str, message: str = "", *, request_sent: bool = True) -> None:
        super().__init__(message or f"Region {region} failed")
        self.region = region
        #: False when the request certainly never reached the region (no connection,
        #: region marked down): nothing can have been created there.
        self.request_sent = request_sent


class RegionUnavailable(RegionError, ConnectionError):
    """The region could not be reached, or is marked down."""


class RegionTimeout(RegionError, TimeoutError):
    """The region did not answer within its deadline."""


class RegionHTTPError(RegionError):
    """The region answered with an HTTP error; ``status`` and ``body`` are its answer."""

    def __init__(self, region: str, status: int, body: Any, message: str = "",
                 request_id: str | None = None) -> None:
        super().__init__(region, message or f"Region {region} answered {status}")
        self.status = status
        self.body = body
        self.request_id = request_id
