"""carebus/registry."""
