"""`carebus batch`: bad input exits 2 before anything connects to a broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from carebus.cli.main import app


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[CliRunner]:
    # A broker address nothing listens on: these commands must fail before they would use it.
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("CAREBUS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SCHEMA_REGISTRY_URL", raising=False)
    monkeypatch.delenv("CAREBUS_REGISTRY_PORT", raising=False)
    from carebus.cli import _context

    _context.settings.cache_clear()
    yield CliRunner()
    _context.settings.cache_clear()


def test_a_file_of_unknown_layout_exits_2_naming_the_file(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_text("name,dob\nZzexample,1961-07-04\n")
    result = runner.invoke(app, ["batch", "load", str(path)])
    assert result.exit_code == 2
    assert "notes.csv: the header row matches no layout" in result.stderr
    assert "Zzexample" not in result.output + result.stderr


def test_a_missing_file_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["batch", "load", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2
    assert "nope.csv: no such file or directory" in result.stderr


def test_a_forced_layout_that_does_not_fit_exits_2(runner: CliRunner, samples_dir: Path) -> None:
    result = runner.invoke(app, ["batch", "load", str(samples_dir / "csv" / "synthea__patients.csv"),
                                 "--layout", "claims"])
    assert result.exit_code == 2
    assert "synthea__patients.csv: the header row matches no layout (claims: missing" in result.stderr


def test_an_unknown_layout_name_is_a_usage_error(runner: CliRunner, samples_dir: Path) -> None:
    result = runner.invoke(app, ["batch", "load", str(samples_dir / "csv"), "--layout", "hl7"])
    assert result.exit_code == 2


def test_status_of_an_empty_ledger(runner: CliRunner) -> None:
    result = runner.invoke(app, ["batch", "status"])
    assert result.exit_code == 0
    assert "sha256" in result.stdout


def test_help(runner: CliRunner) -> None:
    for command in (["batch", "--help"], ["batch", "load", "--help"], ["batch", "watch", "--help"]):
        assert runner.invoke(app, command).exit_code == 0


class _RegistryDown:
    def register_schema(self, *args: object, **kwargs: object) -> int:
        raise httpx.ConnectError("connection refused")


def test_a_registry_that_is_down_exits_1_with_a_message(runner: CliRunner, samples_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from carebus.cli import batch as batch_cli

    monkeypatch.setattr(batch_cli, "_registry", _RegistryDown)
    result = runner.invoke(app, ["batch", "load", str(samples_dir / "csv" / "synthea__patients.csv")])
    assert result.exit_code == 1
    assert "schema registry http://127.0.0.1:8081: registry unreachable (ConnectError)" in result.stderr
    assert "rerun to resume" in result.stderr
