"""cascade-manage command groups, one module each."""
