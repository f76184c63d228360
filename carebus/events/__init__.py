"""carebus/events."""
