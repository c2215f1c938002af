"""App keys of the compute sub-application."""
from aiohttp import web

from cascade.compute.flavors import Flavors
from cascade.compute.keypair_ops import Keypairs
from cascade.compute.server_ops import Servers

__all__ = ["SERVERS", "KEYPAIRS", "FLAVORS"]

SERVERS = web.AppKey("servers", Servers)
KEYPAIRS = web.AppKey("keypairs", Keypairs)
FLAVORS = web.AppKey("flavors", Flavors)
