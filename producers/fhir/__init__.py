"""producers/fhir."""
