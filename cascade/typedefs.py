"""Distinct types for the ids Cascade juggles, so mypy catches a swap."""
from typing import NewType

__all__ = ["GlobalId", "LocalId", "RegionName", "ProjectId"]

#: A UUID minted by Cascade (or chosen by the client for images); what tenants see.
GlobalId = NewType("GlobalId", str)
#: The id a regional service gave the object; never shown to tenants.
LocalId = NewType("LocalId", str)
#: A Keystone region name, e.g. ``RegionOne``.
RegionName = NewType("RegionName", str)
#: A Keystone project id.
ProjectId = NewType("ProjectId", str)
