"""Sync tests use the compute tests' gateway: Cascade before two fake regions."""
from tests.functional.api.compute.conftest import Gateway, gw

__all__ = ["Gateway", "gw"]
