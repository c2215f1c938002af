"""The Glance (image v2) API facade."""
