"""Layout detection from the header row, and `--layout`."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from producers.batch.claims import COLUMNS as CLAIM_COLUMNS
from producers.batch.errors import UnknownLayoutError
from producers.batch.lab_results import COLUMNS as LAB_COLUMNS
from producers.batch.lab_results import REQUIRED as LAB_REQUIRED
from producers.batch.layouts import LAYOUT_NAMES, detect_layout


def _synthea_header(samples_dir: Path) -> list[str]:
    with (samples_dir / "csv" / "synthea__patients.csv").open(newline="", encoding="utf-8") as file:
        return next(csv.reader(file))


def test_the_synthea_sample_is_the_patients_layout(samples_dir: Path) -> None:
    header = detect_layout("patients.csv", _synthea_header(samples_dir))
    assert header.layout.name == "patients"
    assert header.columns["id"] == "Id"
    assert header.columns["birthdate"] == "BIRTHDATE"


def test_synthea_columns_this_layout_does_not_know_are_ignored(samples_dir: Path) -> None:
    header = detect_layout("patients.csv", [*_synthea_header(samples_dir), "NEWCOLUMN"])
    assert header.layout.name == "patients"
    assert header.fields[-1] is None


def test_an_older_synthea_export_without_middle_fips_income_still_fits(samples_dir: Path) -> None:
    names = [name for name in _synthea_header(samples_dir) if name not in {"MIDDLE", "FIPS", "INCOME"}]
    assert detect_layout("patients.csv", names).layout.name == "patients"


@pytest.mark.parametrize(("columns", "layout"), [(LAB_COLUMNS, "lab-results"), (CLAIM_COLUMNS, "claims")])
def test_our_layouts_are_detected_in_any_order_and_case(columns: tuple[str, ...], layout: str) -> None:
    shuffled = [name.upper() if index % 2 else f" {name} " for index, name in enumerate(reversed(columns))]
    header = detect_layout("feed.csv", shuffled)
    assert header.layout.name == layout
    assert header.fields[0] == columns[-1]


def test_optional_columns_may_be_left_out() -> None:
    assert detect_layout("labs.csv", sorted(LAB_REQUIRED)).layout.name == "lab-results"


def test_an_unknown_column_makes_a_strict_layout_not_fit() -> None:
    with pytest.raises(UnknownLayoutError, match="1 column"):
        detect_layout("labs.csv", [*LAB_COLUMNS, "units_typo"])


def test_a_headerless_file_is_refused_without_echoing_its_first_row() -> None:
    first_row = ["838e3532-0deb", "2020-02-06", "", "999-10-4053", "Eustolia154", "Mayert710"]
    with pytest.raises(UnknownLayoutError) as raised:
        detect_layout("patients.csv", first_row)
    message = str(raised.value)
    assert message.startswith("patients.csv: the header row matches no layout")
    assert not any(value and value in message for value in first_row)


def test_a_required_column_twice_is_refused() -> None:
    with pytest.raises(UnknownLayoutError, match="report_id appears twice"):
        detect_layout("labs.csv", [*LAB_COLUMNS, "REPORT_ID"])


def test_forced_layout_must_fit_the_header(samples_dir: Path) -> None:
    with pytest.raises(UnknownLayoutError, match="claims: missing"):
        detect_layout("patients.csv", _synthea_header(samples_dir), "claims")
    with pytest.raises(UnknownLayoutError, match="unknown layout"):
        detect_layout("patients.csv", _synthea_header(samples_dir), "nope")


def test_layout_names_are_the_cli_choices() -> None:
    from carebus.cli.batch import LayoutName

    assert [choice.value for choice in LayoutName] == list(LAYOUT_NAMES)
