"""Contract governance: is the working tree's `schemas/` safe to merge?

Every canonical event schema is checked under its subject's compatibility level against what
subscribers may already hold: the versions committed in git (`check_against_git`) or the versions
a running registry has (`check_against_registry`). For a *_TRANSITIVE level, "the previous
version" means every version in the ref's history, exactly as a registry checks every version it
has, so a change that only looks compatible with its immediate predecessor is still caught.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import httpx

from carebus.errors import CarebusError, InvalidSchemaError
from carebus.events._schemas import expand_schema
from carebus.ids import Subject
from carebus.registry.avro_schema import parse_schema
from carebus.registry.compatibility import CompatibilityLevel, check_compatibility
from carebus.topics import CATALOG

__all__ = [
    "CANONICAL_LEVEL",
    "SubjectVerdict",
    "check_against_git",
    "check_against_registry",
    "contracts_in",
    "level_for",
]

CANONICAL_LEVEL = CompatibilityLevel.BACKWARD_TRANSITIVE
SCHEMAS_PATH = "schemas"
_REGISTRY_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class SubjectVerdict:
    subject: Subject
    level: CompatibilityLevel
    compared_with: tuple[str, ...]
    messages: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.messages


def level_for(subject: str) -> CompatibilityLevel:
    """The level carebus holds a subject to: canonical and normalized topics are BACKWARD_TRANSITIVE."""
    del subject  # every contract carebus owns today is a canonical or normalized event
    return CANONICAL_LEVEL


def contracts_in(schema_dir: Path) -> dict[Subject, str]:
    """Subject -> self-contained schema JSON for every catalog topic whose schema file is in `schema_dir`."""
    contracts: dict[Subject, str] = {}
    for spec in CATALOG:
        if spec.value_schema is None or spec.subject is None:
            continue
        if not (schema_dir / f"{spec.value_schema}.avsc").exists():
            continue
        contracts[spec.subject] = json.dumps(expand_schema(spec.value_schema, schema_dir))
    return contracts


def check_against_git(
    repo: Path,
    ref: str,
    *,
    schema_dir: Path,
    levels: Callable[[str], CompatibilityLevel] = level_for,
) -> list[SubjectVerdict]:
    """Check the contracts in `schema_dir` against their versions at `ref` (and its history when transitive)."""
    current = contracts_in(schema_dir)
    commits = _commits_touching_schemas(repo, ref)  # oldest first
    with tempfile.TemporaryDirectory(prefix="carebus-schemas-") as scratch:
        history: list[tuple[str, dict[Subject, str]]] = []
        for commit in commits:
            folder = Path(scratch) / commit
            _export_schemas(repo, commit, folder)
            history.append((commit[:12], contracts_in(folder / SCHEMAS_PATH)))
    verdicts = [_verdict(subject, text, history, levels(subject)) for subject, text in current.items()]
    latest = history[-1][1] if history else {}
    for removed in sorted(set(latest) - set(current)):
        verdicts.append(SubjectVerdict(removed, levels(removed), (history[-1][0],),
                                       ("the contract was removed; subscribers still read this topic",)))
    return verdicts


def check_against_registry(
    url: str,
    contracts: Mapping[Subject, str],
    *,
    client: httpx.Client | None = None,
) -> list[SubjectVerdict]:
    """Ask a running Confluent-compatible registry whether each contract may be registered."""
    http = client or httpx.Client(base_url=url, timeout=_REGISTRY_TIMEOUT_S)
    verdicts = []
    try:
        for subject, text in contracts.items():
            response = http.post(f"/compatibility/subjects/{subject}/versions", params={"verbose": "true"},
                                 json={"schema": text, "schemaType": "AVRO"},
                                 headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
            if response.status_code == 404:
                verdicts.append(SubjectVerdict(subject, level_for(subject), (), ()))
                continue
            if response.status_code != 200:
                raise CarebusError(f"registry answered HTTP {response.status_code} for {subject}")
            body = response.json()
            messages = () if body.get("is_compatible") else tuple(body.get("messages") or ["incompatible"])
            verdicts.append(SubjectVerdict(subject, level_for(subject), ("registry",), messages))
    finally:
        if client is None:
            http.close()
    return verdicts


def _verdict(subject: Subject, text: str, history: list[tuple[str, dict[Subject, str]]],
             level: CompatibilityLevel) -> SubjectVerdict:
    try:
        new = parse_schema(text)
    except InvalidSchemaError as exc:
        return SubjectVerdict(subject, level, (), (f"invalid schema: {exc}",))
    versions: list[tuple[str, str]] = []
    for commit, contracts in history:
        old = contracts.get(subject)
        # Only distinct versions count, as in a registry: an unchanged file is not a new version.
        if old is not None and (not versions or versions[-1][1] != old):
            versions.append((commit, old))
    if not versions:
        return SubjectVerdict(subject, level, (), ())
    compared = versions if level.transitive else versions[-1:]
    messages = check_compatibility(new, [parse_schema(old) for _, old in compared], level)
    return SubjectVerdict(subject, level, tuple(commit for commit, _ in compared), tuple(messages))


def _git(repo: Path, *args: str) -> bytes:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
    if result.returncode != 0:
        raise CarebusError(f"git {' '.join(args)} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def _commits_touching_schemas(repo: Path, ref: str) -> list[str]:
    _git(repo, "rev-parse", "--verify", f"{ref}^{{commit}}")
    out = _git(repo, "rev-list", "--reverse", ref, "--", SCHEMAS_PATH)
    return out.decode().split()


def _export_schemas(repo: Path, commit: str, target: Path) -> None:
    archive = _git(repo, "archive", "--format=tar", commit, SCHEMAS_PATH)
    target.mkdir(parents=True)
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
