"""App keys of the image sub-application."""
from aiohttp import web

from cascade.images.service import ImageService

__all__ = ["IMAGES"]

IMAGES = web.AppKey("images", ImageService)
