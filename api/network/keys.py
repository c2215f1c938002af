"""Typed keys of the network sub-application's state."""
from __future__ import annotations

from aiohttp import web

from cascade.networks.extensions import Extensions
from cascade.networks.ports import Ports
from cascade.networks.service import NetworkObjects

__all__ = ["OBJECTS", "PORTS", "EXTENSIONS"]

OBJECTS = web.AppKey("network_objects", NetworkObjects)
PORTS = web.AppKey("ports", Ports)
EXTENSIONS = web.AppKey("extensions", Extensions)
