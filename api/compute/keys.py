"""App keys of the compute sub-application."""
from aiohttp import web

from api.compute.keypair_ops import Keypairs
from api.compute.server_ops import Servers

__all__ = ["SERVERS", "KEYPAIRS"]

SERVERS = web.AppKey("servers", Servers)
KEYPAIRS = web.AppKey("keypairs", Keypairs)
