"""`carebus catalog` and `carebus processors check|worker` argument handling (no broker needed)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from carebus.cli.main import app

runner = CliRunner()


def test_catalog_prints_the_inventory() -> None:
    result = runner.invoke(app, ["catalog"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "DEMOLAB" in result.output and "integrations (25)" in result.output


def test_catalog_check(tmp_path: Path) -> None:
    assert runner.invoke(app, ["catalog", "check"]).exit_code == 0
    bad = tmp_path / "integrations.yaml"
    bad.write_text("integrations: 3\n")
    result = runner.invoke(app, ["catalog", "check", "--file", str(bad)])
    assert result.exit_code == 1 and "integrations" in result.output
    assert runner.invoke(app, ["catalog", "--file", str(bad)]).exit_code == 2


def test_processors_check(config_copy: Path) -> None:
    result = runner.invoke(app, ["processors", "check", "--config-dir", str(config_copy)])
    assert result.exit_code == 0 and "25 integrations" in result.output
    (config_copy / "units.csv").write_text("unit\n")
    result = runner.invoke(app, ["processors", "check", "--config-dir", str(config_copy)])
    assert result.exit_code == 1 and "units.csv:1" in result.output


def test_bad_worker_options_are_usage_errors(config_copy: Path) -> None:
    result = runner.invoke(app, ["processors", "worker", "--config-dir", str(config_copy), "--broker", "x:1",
                                 "--registry-url", "http://x", "--retry-delays", "soon"])
    assert result.exit_code == 2 and "retry-delays" in result.output
