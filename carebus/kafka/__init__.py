"""carebus/kafka."""
