"""Typed keys of the network sub-application's state."""
from __future__ import annotations

from aiohttp import web

from cascade.networks.extensions import Extensions
from cascade.networks.floating_ips import FloatingIps
from cascade.networks.ports import Ports
from cascade.networks.routers import Routers
from cascade.networks.service import NetworkObjects

__all__ = ["OBJECTS", "PORTS", "EXTENSIONS", "ROUTERS", "FLOATING_IPS"]

OBJECTS = web.AppKey("network_objects", NetworkObjects)
PORTS = web.AppKey("ports", Ports)
EXTENSIONS = web.AppKey("extensions", Extensions)
ROUTERS = web.AppKey("routers", Routers)
FLOATING_IPS = web.AppKey("floating_ips", FloatingIps)
