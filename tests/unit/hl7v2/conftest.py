"""Helpers shared by the HL7 v2 unit tests: the sample files and small message builders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import SAMPLES_DIR

HL7V2_DIR = SAMPLES_DIR / "hl7v2"
# Listed at collection time so each file is its own test; `samples_dir` still guards the folder.
HL7V2_SAMPLES = sorted(path.name for path in HL7V2_DIR.glob("*.hl7"))
BROKEN_MSH_SAMPLES = frozenset({
    "cdcti__msh_present_but_missing_all_fields.hl7",
    "cdcti__msh_present_but_missing_msh-9.hl7",
})
GOOD_SAMPLES = [name for name in HL7V2_SAMPLES if name not in BROKEN_MSH_SAMPLES]


@pytest.fixture
def read_sample(samples_dir: Path) -> Callable[[str], bytes]:
    def read(name: str) -> bytes:
        return (samples_dir / "hl7v2" / name).read_bytes()

    return read


def message(*segments: str, terminator: str = "\r") -> bytes:
    """Segments joined the way a sender would, as UTF-8 bytes."""
    return (terminator.join(segments) + terminator).encode()


MSH_ORU = "MSH|^~\\&|LAB|HOSP^1.2.3^ISO|CAREBUS|HOSP|20240213154600-0500||ORU^R01^ORU_R01|MSG0001|P|2.5.1|||AL|NE"
PID = "PID|1||12345^^^HOSP&1.2.3&ISO^MR~98765^^^SSA^SS||DOE^JANE^Q||19800101|F"
OBX = "OBX|1|NM|2345-7^Glucose^LN||95|mg/dL^mg/dL^UCUM|70-99|N|||F"
