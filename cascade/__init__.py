"""Cascade core: configuration, database, regions, region clients, auth, ids, errors."""
