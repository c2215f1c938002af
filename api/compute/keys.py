"""App keys of the compute sub-application."""
from aiohttp import web

from cascade.compute.extensions import ComputeExtensions
from cascade.compute.flavors import Flavors
from cascade.compute.image_proxy import ImageProxy
from cascade.compute.keypair_ops import Keypairs
from cascade.compute.server_groups import ServerGroups
from cascade.compute.server_ops import Servers

__all__ = ["SERVERS", "KEYPAIRS", "FLAVORS", "IMAGE_PROXY", "SERVER_GROUPS", "EXTENSIONS"]

SERVERS = web.AppKey("servers", Servers)
KEYPAIRS = web.AppKey("keypairs", Keypairs)
FLAVORS = web.AppKey("flavors", Flavors)
IMAGE_PROXY = web.AppKey("image_proxy", ImageProxy)
SERVER_GROUPS = web.AppKey("server_groups", ServerGroups)
EXTENSIONS = web.AppKey("compute_extensions", ComputeExtensions)
