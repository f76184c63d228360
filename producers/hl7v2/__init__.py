"""producers/hl7v2."""
