"""The operator's mapping tables, read from data files in the config folder.

- `codes/*.csv`: local lab and order codes to a standard (LOINC). Columns `source_system, local_system,
  local_code, system, code, display`. `source_system` is the sending system (`Envelope.source.system`) or `*`
  for any; `local_system` is the sender's own name for its code system as it arrives in
  `CodedConcept.original_system` (`L`, `99zzz`, `AEL`), empty when the sender named none. A row for one
  sending system wins over a `*` row. Every CSV file in the folder is read, in name order; a later row for
  the same key is an error, so two files cannot silently disagree.
- `units.csv`: units as senders write them to UCUM codes. Columns `unit, ucum`. Matched exactly first, then
  ignoring case.
- `value_sets.yaml`: the FHIR value sets of plain-string fields (administrative sex and the statuses) with
  `valid` (the set's own codes, kept as they are) and `map` (values as sent to a code of the set, matched
  ignoring case); and `encounter-class`, a coded field, with its `system` and `map` to `{code, display}`.

Files are plain data: an operator edits them and the processors pick the change up without a restart
(`processors.config_files`). A bad file raises `ConfigFileError` naming the file and line.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import yaml

from processors.errors import ConfigFileError

__all__ = [
    "ANY_SOURCE",
    "CODES_DIR",
    "CODE_COLUMNS",
    "UCUM",
    "UNITS_FILE",
    "UNIT_COLUMNS",
    "VALUE_SETS",
    "VALUE_SETS_FILE",
    "CodeTarget",
    "MappingTables",
    "ValueSet",
    "load_mapping_tables",
]

CODES_DIR: Final = "codes"
UNITS_FILE: Final = "units.csv"
VALUE_SETS_FILE: Final = "value_sets.yaml"
ANY_SOURCE: Final = "*"
UCUM: Final = "http://unitsofmeasure.org"
CODE_COLUMNS: Final = ("source_system", "local_system", "local_code", "system", "code", "display")
UNIT_COLUMNS: Final = ("unit", "ucum")
VALUE_SETS: Final = (
    "administrative-sex", "report-status", "observation-status", "order-status", "encounter-status",
    "referral-status",
)
"""The string-valued fields `value_sets.yaml` must define; `encounter-class` is the one coded set."""
ENCOUNTER_CLASS: Final = "encounter-class"


@dataclass(frozen=True)
class CodeTarget:
    """A standard code: what a local code maps to."""

    system: str
    code: str
    display: str | None = None


@dataclass(frozen=True)
class ValueSet:
    """A FHIR value set for a plain-string field: its own codes, and values as sent mapped onto them."""

    valid: frozenset[str]
    mapping: Mapping[str, str]  # casefolded value as sent -> code in `valid`

    def resolve(self, sent: str) -> str | None:
        if sent in self.valid:
            return sent
        return self.mapping.get(sent.casefold())


@dataclass(frozen=True)
class MappingTables:
    """All normalization tables, immutable: a reload builds a new one."""

    codes: Mapping[tuple[str, str, str], CodeTarget] = field(default_factory=dict)
    units: Mapping[str, str] = field(default_factory=dict)
    units_folded: Mapping[str, str] = field(default_factory=dict)
    value_sets: Mapping[str, ValueSet] = field(default_factory=dict)
    encounter_class_system: str = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
    encounter_classes: Mapping[str, CodeTarget] = field(default_factory=dict)

    def code_for(self, source_system: str, local_system: str | None, local_code: str) -> CodeTarget | None:
        """The standard code for a local one: the sending system's own row first, then a `*` row."""
        system = (local_system or "").casefold()
        return (self.codes.get((source_system, system, local_code))
                or self.codes.get((ANY_SOURCE, system, local_code)))

    def ucum_for(self, unit: str) -> str | None:
        return self.units.get(unit) or self.units_folded.get(unit.casefold())

    def value_set(self, name: str) -> ValueSet:
        return self.value_sets.get(name) or ValueSet(frozenset(), {})

    def encounter_class_for(self, sent: str) -> CodeTarget | None:
        return self.encounter_classes.get(sent.casefold())


def load_mapping_tables(config_dir: Path) -> MappingTables:
    """Read `codes/*.csv`, `units.csv` and `value_sets.yaml` from `config_dir`."""
    units = _read_units(config_dir / UNITS_FILE)
    sets, class_system, classes = _read_value_sets(config_dir / VALUE_SETS_FILE)
    return MappingTables(
        codes=MappingProxyType(_read_codes(config_dir / CODES_DIR)),
        units=MappingProxyType(units),
        units_folded=MappingProxyType({unit.casefold(): ucum for unit, ucum in units.items()}),
        value_sets=MappingProxyType(sets),
        encounter_class_system=class_system,
        encounter_classes=MappingProxyType(classes),
    )


def _rows(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) for each data row; blank lines and lines starting with `#` are skipped."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise ConfigFileError(str(path), f"cannot read ({type(exc).__name__})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigFileError(str(path), "not UTF-8 text") from exc
    numbered = [(n, line) for n, line in enumerate(lines, start=1)
                if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        raise ConfigFileError(str(path), f"empty: expected the header {','.join(columns)}")
    rows: list[tuple[int, dict[str, str]]] = []
    for n, line in numbered:
        try:
            cells = [cell.strip() for cell in next(csv.reader([line]))]
        except csv.Error as exc:
            raise ConfigFileError(str(path), "not a CSV line", line=n) from exc
        if n == numbered[0][0]:
            if tuple(cells) != columns:
                raise ConfigFileError(str(path), f"expected the header {','.join(columns)}", line=n)
            continue
        if len(cells) != len(columns):
            raise ConfigFileError(str(path), f"expected {len(columns)} columns, found {len(cells)}", line=n)
        rows.append((n, dict(zip(columns, cells, strict=True))))
    return rows


def _read_codes(folder: Path) -> dict[tuple[str, str, str], CodeTarget]:
    if not folder.is_dir():
        raise ConfigFileError(str(folder), "the code tables folder is missing")
    codes: dict[tuple[str, str, str], CodeTarget] = {}
    for path in sorted(folder.glob("*.csv")):
        for line, row in _rows(path, CODE_COLUMNS):
            if not (row["source_system"] and row["local_code"] and row["system"] and row["code"]):
                raise ConfigFileError(str(path), "source_system, local_code, system and code are required",
                                      line=line)
            key = (row["source_system"], row["local_system"].casefold(), row["local_code"])
            if key in codes:
                raise ConfigFileError(str(path), "a second row for the same source_system, local_system and "
                                                 "local_code", line=line)
            codes[key] = CodeTarget(row["system"], row["code"], row["display"] or None)
    return codes


def _read_units(path: Path) -> dict[str, str]:
    units: dict[str, str] = {}
    for line, row in _rows(path, UNIT_COLUMNS):
        if not (row["unit"] and row["ucum"]):
            raise ConfigFileError(str(path), "unit and ucum are required", line=line)
        if row["unit"] in units:
            raise ConfigFileError(str(path), "a second row for the same unit", line=line)
        units[row["unit"]] = row["ucum"]
    return units


def _read_value_sets(path: Path) -> tuple[dict[str, ValueSet], str, dict[str, CodeTarget]]:
    document = _read_yaml(path)
    sets: dict[str, ValueSet] = {}
    for name in VALUE_SETS:
        entry = document.get(name)
        if not isinstance(entry, dict) or not isinstance(entry.get("valid"), list):
            raise ConfigFileError(str(path), f"{name}: needs a list `valid` and a mapping `map`")
        valid = frozenset(str(code) for code in entry["valid"])
        mapping = {str(sent).casefold(): str(code) for sent, code in (entry.get("map") or {}).items()}
        stray = sorted(set(mapping.values()) - valid)
        if stray:
            raise ConfigFileError(str(path), f"{name}: map targets outside `valid`: {', '.join(stray)}")
        sets[name] = ValueSet(valid, MappingProxyType(mapping))
    classes = document.get(ENCOUNTER_CLASS)
    if not isinstance(classes, dict) or not isinstance(classes.get("system"), str):
        raise ConfigFileError(str(path), f"{ENCOUNTER_CLASS}: needs a `system` and a `map`")
    targets: dict[str, CodeTarget] = {}
    for sent, target in (classes.get("map") or {}).items():
        if not isinstance(target, dict) or "code" not in target:
            raise ConfigFileError(str(path), f"{ENCOUNTER_CLASS}: {sent}: needs a `code`")
        targets[str(sent).casefold()] = CodeTarget(classes["system"], str(target["code"]), target.get("display"))
    return sets, classes["system"], targets


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigFileError(str(path), f"cannot read ({type(exc).__name__})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigFileError(str(path), "not valid YAML", line=mark.line + 1 if mark else None) from exc
    if not isinstance(document, dict):
        raise ConfigFileError(str(path), "expected a mapping at the top level")
    return document
