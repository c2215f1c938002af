"""Regional notifications: which object changed, and the listeners that hear it."""
