"""The operator's data files, reloaded while the processors run: edit a table, the next events use it.

`ConfigFiles(folder).current()` returns the rules in force (`ProcessorRules`, immutable). At most every
`check_every_s` it compares each file's modification time and size with what it loaded; a part whose files
changed is read again. A file that fails to load leaves the previous version in force, and the failure is
logged (file and reason) and reported through `on_reload`; at start-up (`load()`) a bad file is an error.

Parts and their files, under the folder (default: `config/` at the top of the repository):

| part | files |
| --- | --- |
| mapping tables | `codes/*.csv`, `units.csv`, `value_sets.yaml` |
| integration catalog | `integrations.yaml` |
| identity rule | `identity.yaml` |
| routing rules | `routing.yaml` |
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from processors.errors import ConfigFileError
from processors.identity import IDENTITY_FILE, IdentityRule, load_identity_rule
from processors.mapping_tables import CODES_DIR, UNITS_FILE, VALUE_SETS_FILE, MappingTables, load_mapping_tables
from processors.ownership import INTEGRATIONS_FILE, Catalog, load_catalog
from processors.routing import ROUTING_FILE, RoutingRules, load_routing_rules

__all__ = ["DEFAULT_CONFIG_DIR", "ConfigFiles", "ProcessorRules"]

logger = logging.getLogger(__name__)

DEFAULT_CONFIG_DIR: Final = Path(__file__).resolve().parents[1] / "config"
DEFAULT_CHECK_EVERY_S: Final = 1.0
Signature = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class ProcessorRules:
    """Everything the stages read from the operator's files, as one immutable snapshot."""

    tables: MappingTables
    catalog: Catalog
    identity: IdentityRule
    routing: RoutingRules


@dataclass(frozen=True)
class _Part:
    field: str
    files: Callable[[Path], list[Path]]
    load: Callable[[Path], Any]


_PARTS: Final = (
    _Part("tables", lambda d: [*sorted((d / CODES_DIR).glob("*.csv")), d / UNITS_FILE, d / VALUE_SETS_FILE],
          load_mapping_tables),
    _Part("catalog", lambda d: [d / INTEGRATIONS_FILE], lambda d: load_catalog(d / INTEGRATIONS_FILE)),
    _Part("identity", lambda d: [d / IDENTITY_FILE], lambda d: load_identity_rule(d / IDENTITY_FILE)),
    _Part("routing", lambda d: [d / ROUTING_FILE], lambda d: load_routing_rules(d / ROUTING_FILE)),
)


class ConfigFiles:
    def __init__(
        self,
        folder: Path = DEFAULT_CONFIG_DIR,
        *,
        check_every_s: float = DEFAULT_CHECK_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        on_reload: Callable[[str, str], None] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self._check_every_s = check_every_s
        self._clock = clock
        self._on_reload = on_reload or (lambda part, outcome: None)
        self._rules: ProcessorRules | None = None
        self._signatures: dict[str, Signature] = {}
        self._checked_at = float("-inf")

    def load(self) -> ProcessorRules:
        """Read every file now; raises ConfigFileError for the first bad one."""
        loaded = {}
        for part in _PARTS:
            self._signatures[part.field] = _signature(part.files(self.folder))
            loaded[part.field] = part.load(self.folder)
        self._rules = ProcessorRules(**loaded)
        self._checked_at = self._clock()
        return self._rules

    def current(self) -> ProcessorRules:
        """The rules in force, reloading changed files at most every `check_every_s`."""
        if self._rules is None:
            return self.load()
        now = self._clock()
        if now - self._checked_at < self._check_every_s:
            return self._rules
        self._checked_at = now
        for part in _PARTS:
            signature = _signature(part.files(self.folder))
            if signature == self._signatures.get(part.field):
                continue
            self._signatures[part.field] = signature  # a bad file is reported once, not at every check
            try:
                value = part.load(self.folder)
            except ConfigFileError as exc:
                logger.warning("config reload refused, keeping the previous %s: file=%s line=%s reason=%s",
                               part.field, exc.path, exc.line, exc.reason)
                self._on_reload(part.field, "refused")
                continue
            self._rules = replace(self._rules, **{part.field: value})
            logger.info("config reloaded: %s", part.field)
            self._on_reload(part.field, "reloaded")
        return self._rules


def _signature(paths: list[Path]) -> Signature:
    entries = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            entries.append((str(path), -1, -1))
        else:
            entries.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(entries)
