"""The Nova (compute v2.1) API facade."""
