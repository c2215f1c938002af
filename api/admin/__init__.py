"""Cascade's own admin API (/v1): regions now; mappings and jobs later."""
