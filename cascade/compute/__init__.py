"""The compute service: servers (create, read, list, delete, forward), keypairs,
region choice, and the cached views that answer for a sick region. Called by
``api/compute`` (HTTP) and by ``sync`` (deferred builds); no HTTP in here."""
