"""Authentication of tenant requests (keystonemiddleware, off the event loop)."""
