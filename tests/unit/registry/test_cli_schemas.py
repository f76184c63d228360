"""`carebus schemas compatible`: exit 0 when the reader reads the writer, 1 when not, 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from carebus.cli.schemas import app

OLD = {"type": "record", "name": "Patient", "fields": [{"name": "id", "type": "int"}]}
NEW = {
    "type": "record",
    "name": "Patient",
    "fields": [{"name": "id", "type": "long"}, {"name": "mrn", "type": "string"}],
}


def write(path: Path, schema: Any) -> Path:
    path.write_text(json.dumps(schema), encoding="utf-8")
    return path


def compatible(reader: Path, writer: Path) -> Result:
    return CliRunner().invoke(app, ["compatible", "--reader", str(reader), "--writer", str(writer)])


@pytest.fixture
def old(tmp_path: Path) -> Path:
    return write(tmp_path / "old.avsc", OLD)


@pytest.fixture
def new(tmp_path: Path) -> Path:
    return write(tmp_path / "new.avsc", NEW)


def test_exit_0_when_the_reader_reads_the_writer(old: Path, tmp_path: Path) -> None:
    widened = write(tmp_path / "widened.avsc", {**OLD, "fields": [{"name": "id", "type": "long"}]})
    result = compatible(widened, old)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"compatible: {widened} can read data written with {old}\n"


def test_exit_1_lists_each_reason_with_its_location(old: Path, new: Path) -> None:
    result = compatible(new, old)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"incompatible: {new} cannot read data written with {old}:",
        "  READER_FIELD_MISSING_DEFAULT_VALUE at /fields/1: mrn",
    ]


def test_exit_1_the_other_way_round(old: Path, new: Path) -> None:
    result = compatible(old, new)
    assert result.exit_code == 1
    assert "  TYPE_MISMATCH at /fields/0/type: reader type: INT not compatible with writer type: LONG" in (
        result.stdout.splitlines()
    )


def test_exit_1_when_a_reader_field_matches_two_writer_fields(tmp_path: Path) -> None:
    reader = write(tmp_path / "r.avsc", {**OLD, "fields": [{"name": "id", "type": "int", "aliases": ["key"]}]})
    writer = write(
        tmp_path / "w.avsc", {**OLD, "fields": [{"name": "id", "type": "int"}, {"name": "key", "type": "int"}]}
    )
    result = compatible(reader, writer)
    assert result.exit_code == 1
    assert "reader field 'id' at /fields/0 matches 2 fields" in result.stdout


def test_exit_2_for_a_missing_file(old: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.avsc"
    result = compatible(missing, old)
    assert result.exit_code == 2
    assert result.stderr == f"error: cannot read {missing}: No such file or directory\n"


def test_exit_2_for_a_directory(old: Path, tmp_path: Path) -> None:
    result = compatible(old, tmp_path)
    assert result.exit_code == 2
    assert f"cannot read {tmp_path}" in result.stderr


def test_exit_2_for_a_file_that_is_not_text(old: Path, tmp_path: Path) -> None:
    binary = tmp_path / "binary.avsc"
    binary.write_bytes(b"\xff\xfe\x00")
    result = compatible(binary, old)
    assert result.exit_code == 2
    assert result.stderr == f"error: cannot read {binary}: not UTF-8 text\n"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"type": "record"', "not JSON"),
        ('{"type": "record", "name": "R", "fields": [{"name": "a", "type": "Nope"}]}', "unknown type 'Nope'"),
    ],
)
def test_exit_2_for_an_invalid_schema_naming_the_file(old: Path, tmp_path: Path, content: str, reason: str) -> None:
    bad = tmp_path / "bad.avsc"
    bad.write_text(content, encoding="utf-8")
    result = compatible(old, bad)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {bad}: invalid Avro schema")
    assert reason in result.stderr
    assert result.stdout == ""


def test_exit_2_without_both_options(old: Path) -> None:
    result = CliRunner().invoke(app, ["compatible", "--reader", str(old)])
    assert result.exit_code == 2


def test_is_wired_as_carebus_schemas_compatible(old: Path, new: Path) -> None:
    from carebus.cli.main import app as carebus

    result = CliRunner().invoke(carebus, ["schemas", "compatible", "--reader", str(new), "--writer", str(old)])
    assert result.exit_code == 1
    assert "READER_FIELD_MISSING_DEFAULT_VALUE at /fields/1: mrn" in result.stdout
