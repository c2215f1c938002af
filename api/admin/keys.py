"""Typed keys of the admin sub-application's state."""
from __future__ import annotations

from aiohttp import web

from cascade.regions.admin import RegionAdmin

__all__ = ["REGION_ADMIN"]

REGION_ADMIN = web.AppKey("region_admin", RegionAdmin)
