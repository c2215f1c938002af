"""Cascade's HTTP facade: the Nova, Glance and Neutron APIs, and the admin API."""
