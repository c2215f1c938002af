"""App keys of the compute sub-application."""
from aiohttp import web

from api.compute.server_ops import Servers

__all__ = ["SERVERS"]

SERVERS = web.AppKey("servers", Servers)
