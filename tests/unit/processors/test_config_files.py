from __future__ import annotations

import os
from pathlib import Path

import pytest

from processors.config_files import ConfigFiles
from processors.errors import ConfigFileError


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _touch(path: Path, text: str) -> None:
    stat = path.stat()
    path.write_text(text)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a new mtime, whatever the fs


def test_an_edited_table_is_used_without_a_restart(config_copy: Path) -> None:
    clock, reloads = Clock(), []
    files = ConfigFiles(config_copy, check_every_s=1.0, clock=clock, on_reload=lambda *a: reloads.append(a))
    before = files.load()
    assert before.tables.code_for("DEMOLAB", "L", "NEWTEST") is None
    codes = config_copy / "codes" / "lab.csv"
    _touch(codes, codes.read_text() + "DEMOLAB,L,NEWTEST,http://loinc.org,1234-5,A new test\n")

    assert files.current() is before  # not checked again yet
    clock.now = 1.5
    after = files.current()
    assert after.tables.code_for("DEMOLAB", "L", "NEWTEST").code == "1234-5"  # type: ignore[union-attr]
    assert after.catalog is before.catalog  # only the changed part is read again
    assert reloads == [("tables", "reloaded")]


def test_a_new_table_file_is_picked_up(config_copy: Path) -> None:
    clock = Clock()
    files = ConfigFiles(config_copy, clock=clock)
    files.load()
    (config_copy / "codes" / "extra.csv").write_text(
        "source_system,local_system,local_code,system,code,display\n*,99zzz,X1,http://loinc.org,718-7,Hgb\n")
    clock.now = 5
    assert files.current().tables.code_for("ANY", "99zzz", "X1") is not None


def test_a_bad_edit_is_refused_and_the_previous_rules_stay(config_copy: Path) -> None:
    clock, reloads = Clock(), []
    files = ConfigFiles(config_copy, clock=clock, on_reload=lambda *a: reloads.append(a))
    before = files.load()
    _touch(config_copy / "routing.yaml", "rules:\n  - {name: x, to: [normalized.result.v1]}\n")
    clock.now = 2
    assert files.current().routing is before.routing
    assert reloads == [("routing", "refused")]
    clock.now = 4
    files.current()
    assert reloads == [("routing", "refused")]  # reported once, not at every check


def test_load_fails_on_a_bad_file(config_copy: Path) -> None:
    (config_copy / "integrations.yaml").write_text("integrations: 3\n")
    with pytest.raises(ConfigFileError, match=r"integrations\.yaml"):
        ConfigFiles(config_copy).load()
