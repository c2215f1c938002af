"""Neutron's named errors (``NetworkNotFound``, ``NetworkInUse``...) as Cascade errors."""
from __future__ import annotations

from cascade import errors

__all__ = ["not_found", "in_use", "conflict", "bad_request", "refused"]


class _Named:
    neutron_type: str = ""

    def fault(self, service: str) -> tuple[int, str, str | None]:
        status: int = self.status  # type: ignore[attr-defined]
        message: str = self.message  # type: ignore[attr-defined]
        return status, message, self.neutron_type or None


class NeutronNotFound(_Named, errors.NotFound):
    pass


class NeutronConflict(_Named, errors.Conflict):
    pass


class NeutronBadRequest(_Named, errors.BadRequest):
    pass


_NOT_FOUND = {"network": ("NetworkNotFound", "Network"),
              "subnet": ("SubnetNotFound", "Subnet"),
              "port": ("PortNotFound", "Port"),
              "security_group": ("SecurityGroupNotFound", "Security group"),
              "security_group_rule": ("SecurityGroupRuleNotFound", "Security group rule"),
              "router": ("RouterNotFound", "Router"),
              "floatingip": ("FloatingIPNotFound", "Floating IP")}


def not_found(type_: str, global_id: str) -> errors.NotFound:
    """Neutron's 404 for an object of ``type_`` (``Network <id> could not be found.``)."""
    name, noun = _NOT_FOUND[type_]
    err = NeutronNotFound(f"{noun} {global_id} could not be found.")
    err.neutron_type = name
    return err


def in_use(type_: str, global_id: str, detail: str) -> errors.Conflict:
    """Neutron's 409 ``NetworkInUse`` / ``SubnetInUse`` / ``SecurityGroupInUse``."""
    names = {"network": ("NetworkInUse", "network"), "subnet": ("SubnetInUse", "subnet"),
             "security_group": ("SecurityGroupInUse", "security group")}
    name, noun = names[type_]
    err = NeutronConflict(f"Unable to complete operation on {noun} {global_id}. {detail}")
    err.neutron_type = name
    return err


def conflict(name: str, message: str) -> errors.Conflict:
    err = NeutronConflict(message)
    err.neutron_type = name
    return err


def typed_bad_request(name: str, message: str) -> errors.BadRequest:
    """A 400 Neutron names by its exception type (``SecurityGroupInvalidPortValue``...)."""
    err = NeutronBadRequest(message)
    err.neutron_type = name
    return err


def refused(name: str, message: str) -> errors.BadRequest:
    """Neutron's 400 of a named type, in its own words (``InvalidIpForSubnet``...)."""
    err = NeutronBadRequest(message)
    err.neutron_type = name
    return err


def bad_request(message: str) -> errors.BadRequest:
    err = NeutronBadRequest(f"Invalid input for operation: {message}.")
    err.neutron_type = "InvalidInput"
    return err


def refused_not_found(name: str, message: str) -> errors.NotFound:
    """Neutron's 404 of a named type (``RouterInterfaceNotFound``...)."""
    err = NeutronNotFound(message)
    err.neutron_type = name
    return err
