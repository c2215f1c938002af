"""Regions below Cascade: registry, catalog, clients, fan-out."""
