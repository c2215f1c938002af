"""App keys of the image sub-application."""
from aiohttp import web

from cascade.images.metadefs import Metadefs
from cascade.images.service import ImageService

__all__ = ["IMAGES", "METADEFS"]

IMAGES = web.AppKey("images", ImageService)
METADEFS = web.AppKey("metadefs", Metadefs)
