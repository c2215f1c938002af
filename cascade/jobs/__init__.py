"""The durable job queue: a storage primitive services and ``sync/`` both use.

``queue`` writes, claims, leases, retries and purges job rows; ``views`` is how
operators see a job (never a secret). The handlers that run jobs live in
``sync/``.
"""
