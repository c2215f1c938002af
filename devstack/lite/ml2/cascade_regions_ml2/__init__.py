"""ML2 mechanism driver used by the Cascade real-regions kit (devstack/lite)."""
