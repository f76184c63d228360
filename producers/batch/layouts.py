"""The layouts the batch adapter reads, and which one a file's header row is.

`detect_layout` matches the header against every layout (or only the one named with `--layout`):
the header must hold every required column of exactly one layout, and, for layouts that do not
allow extra columns, nothing else. docs/batch-layouts.md describes each layout column by column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final

from producers.batch import claims, lab_results, patients
from producers.batch._layout import Header, Layout, match_header
from producers.batch.errors import UnknownLayoutError

__all__ = ["LAYOUTS", "LAYOUT_NAMES", "detect_layout"]

LAYOUTS: Final[Mapping[str, Layout]] = MappingProxyType({
    layout.name: layout for layout in (patients.LAYOUT, lab_results.LAYOUT, claims.LAYOUT)
})
LAYOUT_NAMES: Final[tuple[str, ...]] = tuple(LAYOUTS)


def detect_layout(file_name: str, header: Sequence[str], layout: str | None = None) -> Header:
    """The header row matched to its layout; `layout` restricts the match to that one."""
    if layout is None:
        return match_header(file_name, header, tuple(LAYOUTS.values()))
    if layout not in LAYOUTS:
        raise UnknownLayoutError(file_name, f"unknown layout {layout!r}; expected one of {', '.join(LAYOUT_NAMES)}")
    return match_header(file_name, header, (LAYOUTS[layout],))
