"""The Neutron (network v2.0) API facade."""
