from __future__ import annotations

from pathlib import Path

import pytest

from processors.errors import ConfigFileError
from processors.mapping_tables import MappingTables, load_mapping_tables

HEADER = "source_system,local_system,local_code,system,code,display\n"


def test_shipped_tables_load(tables: MappingTables) -> None:
    assert tables.code_for("DEMOLAB", "l", "GLU") is not None  # the sender's system name, any case
    assert tables.ucum_for("MG/DL") == "mg/dL"
    assert tables.ucum_for("µmol/L") == "umol/L"
    assert tables.value_set("observation-status").resolve("f") == "final"


def test_a_senders_row_wins_over_a_row_for_any(config_copy: Path) -> None:
    (config_copy / "codes" / "zz.csv").write_text(HEADER + "*,L,X,http://loinc.org,1-1,\nLAB9,L,X,http://loinc.org,2-2,\n")
    tables = load_mapping_tables(config_copy)
    assert tables.code_for("LAB9", "L", "X").code == "2-2"  # type: ignore[union-attr]
    assert tables.code_for("LAB1", "L", "X").code == "1-1"  # type: ignore[union-attr]


@pytest.mark.parametrize(("name", "text", "message", "line"), [
    ("codes/zz.csv", "code,system\n", "expected the header", 1),
    ("codes/zz.csv", HEADER + "# a comment\n*,L,X,http://loinc.org\n", "expected 6 columns", 3),
    ("codes/zz.csv", HEADER + "*,L,X,,1-1,\n", "required", 2),
    ("codes/zz.csv", HEADER + "*,L,X,http://loinc.org,1-1,\n*,l,X,http://loinc.org,1-2,\n", "second row", 3),
    ("units.csv", "unit,ucum\nmg,mg\nmg,g\n", "second row", 3),
    ("value_sets.yaml", "administrative-sex: {valid: [male], map: {M: man}}\n", "outside `valid`", None),
    ("value_sets.yaml", "report-status: [\n", "not valid YAML", 2),
])
def test_bad_files_name_the_file_and_line(config_copy: Path, name: str, text: str, message: str,
                                          line: int | None) -> None:
    (config_copy / name).write_text(text)
    with pytest.raises(ConfigFileError, match=message) as raised:
        load_mapping_tables(config_copy)
    assert raised.value.path.endswith(name.rsplit("/", maxsplit=1)[-1]) and raised.value.line == line
