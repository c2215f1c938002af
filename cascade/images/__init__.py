"""Images: Cascade is the source of truth for metadata; regions hold replicas."""
