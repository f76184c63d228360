"""The stages, in the order they run. Stage names are stable once published (../shared/BENCH.md)."""

from bench._harness import Stage
from bench.stages import avro_serde, batch_load, mllp_ingest

STAGES: list[Stage] = [avro_serde.STAGE_DEF, mllp_ingest.STAGE_DEF, batch_load.STAGE_DEF]
