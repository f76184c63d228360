"""carebus/cli."""
