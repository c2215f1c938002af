"""Cascade's database: models, engine lifetime, migrations."""
