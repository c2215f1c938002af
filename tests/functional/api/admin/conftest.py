"""Admin functional tests that need tenants' objects use the compute tests' gateway."""
from tests.functional.api.compute.conftest import Gateway, gw

__all__ = ["Gateway", "gw"]
