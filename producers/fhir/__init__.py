"""producers/fhir: the FHIR R4 REST ingest adapter.

Pure code | I/O, as every adapter splits:

    mapping/       FHIR R4 resources -> canonical events (pure; one module per resource type, decisions in
                   each module's docstring)
    validation     fhir.resources R4B validation, errors as FHIRPath-like expressions
    interactions   conditional criteria, If-Match, entry URLs, echoes (pure)
    outcome        OperationOutcome / Bundle-response bodies (pure)
    capability     the CapabilityStatement (pure)
    auth           bearer tokens with SMART-style scopes
    idempotency    the IdempotencyStore port and its in-memory adapter
    ingest         IngestService: the interactions against the ports (no HTTP)
    app            build_app(): FastAPI in front of IngestService
    metrics        Prometheus metrics of the app
    errors         the adapter's error subtree (FhirError under CarebusError)

`carebus.cli` builds the ports (KafkaEventPublisher, KafkaDeadLetterPublisher, BearerAuth, an
IdempotencyStore) and calls `build_app`; tests call it with fakes.
"""
