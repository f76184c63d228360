"""The stages, in the order they run. Stage names are stable once published (../shared/BENCH.md)."""

from bench._harness import Stage
from bench.stages import avro_serde, batch_load, fhir_ingest, mllp_ingest, processor, registry_lookup, sdk_publish

STAGES: list[Stage] = [
    avro_serde.STAGE_DEF,
    registry_lookup.STAGE_DEF,
    mllp_ingest.STAGE_DEF,
    fhir_ingest.STAGE_DEF,
    batch_load.STAGE_DEF,
    sdk_publish.STAGE_DEF,
    processor.STAGE_DEF,
]
