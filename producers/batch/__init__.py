"""producers/batch."""
