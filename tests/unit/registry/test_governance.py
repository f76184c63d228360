"""`check_against_git`: the working tree's contracts against their versions in git history."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from carebus.registry.compatibility import CompatibilityLevel
from carebus.registry.governance import check_against_git

SUBJECT = "canonical.patient.v1-value"


def _schema(*fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "record",
        "name": "PatientEvent",
        "namespace": "carebus.canonical",
        "doc": "test",
        "fields": [{"name": "id", "type": "string", "doc": "id"}, *fields],
    }


def _write(repo: Path, schema: dict[str, Any]) -> None:
    (repo / "schemas").mkdir(exist_ok=True)
    (repo / "schemas" / "carebus.canonical.PatientEvent.avsc").write_text(json.dumps(schema))


def _commit(repo: Path, schema: dict[str, Any]) -> None:
    _write(repo, schema)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "v"], check=True
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    return tmp_path


WITH_DEFAULT = {"name": "mrn", "type": ["null", "string"], "default": None, "doc": "d"}
WITHOUT_DEFAULT = {"name": "mrn", "type": "string", "doc": "d"}
STRING_WITH_DEFAULT = {"name": "mrn", "type": "string", "default": "", "doc": "d"}


def _verdict(repo: Path, level: CompatibilityLevel = CompatibilityLevel.BACKWARD_TRANSITIVE):
    verdicts = check_against_git(repo, "HEAD", schema_dir=repo / "schemas", levels=lambda _: level)
    # The same record is the value schema of canonical.patient.v1 and normalized.patient.v1.
    assert {v.subject for v in verdicts} == {SUBJECT, "normalized.patient.v1-value"}
    return next(v for v in verdicts if v.subject == SUBJECT)


def test_adding_a_field_with_a_default_passes(repo: Path) -> None:
    _commit(repo, _schema())
    _write(repo, _schema(WITH_DEFAULT))
    assert _verdict(repo).ok


def test_adding_a_field_without_a_default_fails_naming_the_field(repo: Path) -> None:
    _commit(repo, _schema())
    _write(repo, _schema(WITHOUT_DEFAULT))
    verdict = _verdict(repo)
    assert not verdict.ok
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in verdict.messages[0]
    assert "mrn" in verdict.messages[0]


def test_transitive_level_checks_every_version_in_history(repo: Path) -> None:
    _commit(repo, _schema())  # v1: no mrn
    _commit(repo, _schema(STRING_WITH_DEFAULT))  # v2: mrn with a default
    _write(repo, _schema(WITHOUT_DEFAULT))  # v3 reads v2 (has mrn) but not v1 (no mrn, no default)
    assert _verdict(repo, CompatibilityLevel.BACKWARD).ok
    transitive = _verdict(repo, CompatibilityLevel.BACKWARD_TRANSITIVE)
    assert not transitive.ok
    assert len(transitive.compared_with) == 2


def test_a_new_subject_with_no_history_passes(repo: Path) -> None:
    (repo / "README").write_text("x")
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"], check=True
    )
    _write(repo, _schema(WITHOUT_DEFAULT))
    assert _verdict(repo).ok


def test_removing_a_contract_fails(repo: Path) -> None:
    _commit(repo, _schema())
    (repo / "schemas" / "carebus.canonical.PatientEvent.avsc").unlink()
    verdict = next(v for v in check_against_git(repo, "HEAD", schema_dir=repo / "schemas") if v.subject == SUBJECT)
    assert not verdict.ok
    assert "removed" in verdict.messages[0]


def test_cli_check_exits_1_on_a_breaking_change_and_0_when_compatible(repo: Path) -> None:
    from typer.testing import CliRunner

    from carebus.cli.main import app

    _commit(repo, _schema())
    args = ["schemas", "check", "--against", "HEAD", "--repo", str(repo), "--schemas", str(repo / "schemas")]
    _write(repo, _schema(WITHOUT_DEFAULT))
    broken = CliRunner().invoke(app, args)
    _write(repo, _schema(WITH_DEFAULT))
    fine = CliRunner().invoke(app, args)
    bad_ref = CliRunner().invoke(app, [*args[:3], "no-such-ref", *args[4:]])

    assert broken.exit_code == 1, broken.output
    assert "FAIL canonical.patient.v1-value" in broken.output
    assert fine.exit_code == 0, fine.output
    assert bad_ref.exit_code == 2
