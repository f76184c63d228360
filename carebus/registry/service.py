"""The registry's rules, between the HTTP layer and the store, with Confluent Schema Registry's semantics.

Reads run against the store's state; writes are `Decision`s the store makes as the single writer (see
`carebus.registry.store`). Every rule raises a `RegistryApiError` carrying Confluent's error code.

Schema identity: two registrations are the same schema when their normalized fingerprints
(`avro_schema.fingerprint`, which ignores spelling such as whitespace and key order but keeps defaults, docs and
aliases) and their references are equal. Registering the same schema again returns the existing id and version;
the same schema under another subject gets the same id. A schema that only exists in permanently deleted
versions is gone: registering it again hands out a new id, because ids are never reused.

What is stored: the schema as sent, without whitespace, or `avro_schema.normalize`'s form when the request says
`normalize=true`. Compatibility is checked against the subject's live (not soft-deleted) versions at the
subject's level, else the global level, else BACKWARD (Confluent's default). IMPORT mode skips the check and
takes the id (required) and version from the request, as Confluent does.

carebus's canonical subjects are registered with `register_canonical`, which sets the subject's level to
BACKWARD_TRANSITIVE (unless someone configured one already) in the same write as the schema.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from carebus.errors import InvalidSchemaError, SchemaError
from carebus.registry import errors
from carebus.registry.avro_schema import AvroSchema, fingerprint, parse_schema
from carebus.registry.avro_schema import normalize as normalize_schema
from carebus.registry.compatibility import CompatibilityLevel, check_compatibility
from carebus.registry.errors import ErrorCode, RegistryApiError
from carebus.registry.store import (
    ConfigKey,
    Decision,
    LogRecord,
    Mode,
    ModeKey,
    Reference,
    RegistryState,
    RegistryStore,
    SchemaIdentity,
    SchemaKey,
    SubjectVersion,
)

__all__ = [
    "CANONICAL_COMPATIBILITY",
    "LATEST",
    "Registered",
    "RegistryService",
    "SchemaRequest",
    "check_subject",
    "parse_compatibility",
    "parse_mode",
    "parse_version",
]

logger = logging.getLogger(__name__)

CANONICAL_COMPATIBILITY = CompatibilityLevel.BACKWARD_TRANSITIVE  # DESIGN.md: canonical topics' contracts
LATEST = -1
MAX_VERSION = 2**31 - 1
MAX_REFERENCE_DEPTH = 32
READ_SYNC_TIMEOUT_S = 2.0
SUPPORTED_SCHEMA_TYPES = ("AVRO",)
RESERVED_SUBJECTS = frozenset({"__GLOBAL", "__EMPTY"})
_GUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:carebus:registry:schema")

_T = TypeVar("_T")


@dataclass(frozen=True)
class SchemaRequest:
    """A schema as a client sends it (register, lookup, compatibility test). Unknown JSON fields are dropped."""

    schema: str | None = field(repr=False)
    schema_type: str | None = None
    references: tuple[Reference, ...] = ()
    schema_id: int | None = None
    version: int | None = None


@dataclass(frozen=True)
class Registered:
    """The answer to a registration."""

    schema_id: int
    version: int
    guid: str


@dataclass(frozen=True)
class _Candidate:
    """A request's schema, parsed and ready to compare and store."""

    schema: AvroSchema
    text: str = field(repr=False)
    fingerprint: str
    references: tuple[Reference, ...]

    @property
    def identity(self) -> SchemaIdentity:
        return (self.fingerprint, self.references)


def parse_version(text: str) -> int:
    """A version path segment: 1..2^31-1, or "latest" / -1 (returned as `LATEST`); else 42202."""
    if text.strip().lower() == "latest":
        return LATEST
    try:
        number = int(text)
    except ValueError:
        raise errors.invalid_version(text) from None
    if number == LATEST:
        return LATEST
    if not 1 <= number <= MAX_VERSION:
        raise errors.invalid_version(text)
    return number


def parse_compatibility(text: object) -> CompatibilityLevel:
    """A compatibility level in any case (Confluent accepts "backward"); else 42203."""
    try:
        return CompatibilityLevel(str(text).strip().upper())
    except ValueError:
        raise errors.invalid_compatibility_level() from None


def parse_mode(text: object) -> Mode:
    try:
        return Mode(str(text).strip().upper())
    except ValueError:
        raise errors.invalid_mode(", ".join(m.value for m in Mode)) from None


def check_subject(subject: str) -> None:
    """Confluent's subject rule: not empty, no control characters, not a reserved name; else 42208."""
    if not subject.strip() or subject in RESERVED_SUBJECTS or any(ord(c) < 32 or ord(c) == 127 for c in subject):
        raise errors.invalid_subject(subject)


class RegistryService:
    """The registry's operations. Thread-safe: the store serializes writes and guards the state."""

    def __init__(self, store: RegistryStore) -> None:
        self._store = store
        # An id's schema never changes and ids are never reused, so parsed schemas are cached by id.
        self._parsed: dict[int, AvroSchema] = {}

    @property
    def store(self) -> RegistryStore:
        return self._store

    # --- reads --------------------------------------------------------------------------------------------

    def list_subjects(self, *, prefix: str = "", deleted: bool = False, deleted_only: bool = False) -> list[str]:
        def query(state: RegistryState) -> list[str]:
            subjects = []
            for subject in state.subjects():
                if not subject.startswith(prefix):
                    continue
                live = bool(state.versions(subject))
                if (deleted_only and not live) or (not deleted_only and (live or deleted)):
                    subjects.append(subject)
            return subjects

        return self._store.read(query)

    def list_versions(self, subject: str, *, deleted: bool = False, deleted_only: bool = False) -> list[int]:
        def query(state: RegistryState) -> list[int]:
            versions = [v for v in state.versions(subject, include_deleted=deleted or deleted_only)
                        if v.deleted or not deleted_only]
            if not versions:
                raise errors.subject_not_found(subject)
            return [v.version for v in versions]

        return self._read(query)

    def get_version(self, subject: str, version: str, *, deleted: bool = False) -> SubjectVersion:
        number = parse_version(version)
        return self._read(lambda state: _find_version(state, subject, number, deleted=deleted))

    def referenced_by(self, subject: str, version: str) -> list[int]:
        number = parse_version(version)

        def query(state: RegistryState) -> list[int]:
            target = _find_version(state, subject, number, deleted=False)
            return sorted({v.schema_id for v in state.referrers(subject, target.version) if not v.deleted})

        return self._read(query)

    def schema_by_id(self, schema_id: int) -> SubjectVersion:
        def query(state: RegistryState) -> SubjectVersion:
            holders = state.versions_with_id(schema_id)
            if not holders:
                raise errors.schema_not_found(schema_id)
            # Any holder has the same text; prefer a live one only for a stable answer.
            return min(holders, key=lambda v: v.deleted)

        return self._read(query)

    def versions_for_id(self, schema_id: int, *, deleted: bool = False) -> list[SubjectVersion]:
        def query(state: RegistryState) -> list[SubjectVersion]:
            holders = state.versions_with_id(schema_id)
            if not holders:
                raise errors.schema_not_found(schema_id)
            return [v for v in holders if deleted or not v.deleted]

        return self._read(query)

    def list_schemas(
        self, *, prefix: str = "", deleted: bool = False, latest_only: bool = False
    ) -> list[SubjectVersion]:
        def query(state: RegistryState) -> list[SubjectVersion]:
            found: list[SubjectVersion] = []
            for subject in state.subjects():
                if subject.startswith(prefix):
                    versions = state.versions(subject, include_deleted=deleted)
                    found.extend(versions[-1:] if latest_only else versions)
            return found

        return self._store.read(query)

    def max_id(self) -> int:
        return self._store.read(lambda state: state.max_id)

    def lookup(self, subject: str, request: SchemaRequest, *, normalize: bool = False,
               deleted: bool = False) -> SubjectVersion:
        """The version of `subject` that holds this schema; 40401 or 40403 when there is none."""

        def query(state: RegistryState) -> SubjectVersion:
            versions = state.versions(subject, include_deleted=deleted)
            if not versions:
                raise errors.subject_not_found(subject)
            candidate = self._candidate(state, request, normalize=normalize)
            for version in reversed(versions):
                if version.identity == candidate.identity:
                    return version
            raise errors.schema_not_found()

        return self._read(query)

    def test_compatibility(self, subject: str, request: SchemaRequest, *, version: str | None = None,
                           normalize: bool = False) -> list[str]:
        """Why `request` could not be registered under `subject` (empty: it could), without registering it.

        With `version`, against that version only; without, against the versions the subject's level names
        (and trivially compatible when the subject has none).
        """
        number = parse_version(version) if version is not None else None

        def query(state: RegistryState) -> list[str]:
            if number is None:
                existing = state.versions(subject)
            else:
                existing = [_find_version(state, subject, number, deleted=False)]
            candidate = self._candidate(state, request, normalize=normalize)
            level = state.effective_compatibility(subject)
            return self._incompatibilities(state, candidate, existing, level)

        return self._read(query)

    def get_compatibility(self, subject: str | None = None, *, default_to_global: bool = False) -> CompatibilityLevel:
        def query(state: RegistryState) -> CompatibilityLevel:
            global_level = state.compatibility(None) or state.default_compatibility
            if subject is None:
                return global_level
            level = state.compatibility(subject)
            if level is not None:
                return level
            if default_to_global:
                return global_level
            raise errors.subject_compatibility_not_configured(subject)

        return self._store.read(query)

    def get_mode(self, subject: str | None = None, *, default_to_global: bool = False) -> Mode:
        def query(state: RegistryState) -> Mode:
            global_mode = state.mode(None) or Mode.READWRITE
            if subject is None:
                return global_mode
            mode = state.mode(subject)
            if mode is not None:
                return mode
            if default_to_global:
                return global_mode
            raise errors.subject_mode_not_configured(subject)

        return self._store.read(query)

    # --- writes -------------------------------------------------------------------------------------------

    def register(self, subject: str, request: SchemaRequest, *, normalize: bool = False) -> Registered:
        """Register `request` under `subject`, or return the version that already holds it."""
        check_subject(subject)
        registered = self._store.write(lambda state: self._decide_register(state, subject, request, normalize))
        logger.info("registered %s version %d as schema id %d", subject, registered.version, registered.schema_id)
        return registered

    def register_canonical(self, subject: str, schema: str,
                           level: CompatibilityLevel = CANONICAL_COMPATIBILITY) -> Registered:
        """Register a carebus canonical contract: the subject gets `level` unless it already has a level.

        The level and the schema go in one write, and the schema is checked at that level.
        """
        check_subject(subject)

        def decide(state: RegistryState) -> Decision[Registered]:
            configured = state.compatibility(subject)
            extra = () if configured is not None else (LogRecord(ConfigKey(subject), level),)
            return self._decide_register(state, subject, SchemaRequest(schema), False,
                                         level=configured or level, extra=extra)

        registered = self._store.write(decide)
        logger.info("registered canonical %s version %d as schema id %d",
                    subject, registered.version, registered.schema_id)
        return registered

    def delete_subject(self, subject: str, *, permanent: bool = False) -> list[int]:
        def decide(state: RegistryState) -> Decision[list[int]]:
            _check_writable(state, subject)
            versions = state.versions(subject, include_deleted=True)
            if not versions:
                raise errors.subject_not_found(subject)
            live = [v for v in versions if not v.deleted]
            if permanent and live:
                raise errors.subject_not_soft_deleted(subject)
            if not permanent and not live:
                raise errors.subject_soft_deleted(subject)
            targets = versions if permanent else live
            for target in targets:
                _check_unreferenced(state, target, permanent=permanent)
            records = [_deletion(target, permanent) for target in targets]
            if not permanent:
                # Like Confluent: a soft-deleted subject loses its own level and mode.
                if state.compatibility(subject) is not None:
                    records.append(LogRecord(ConfigKey(subject), None))
                if state.mode(subject) is not None:
                    records.append(LogRecord(ModeKey(subject), None))
            return Decision([t.version for t in targets], tuple(records))

        deleted = self._store.write(decide)
        logger.info("deleted %s versions %s (permanent=%s)", subject, deleted, permanent)
        return deleted

    def delete_version(self, subject: str, version: str, *, permanent: bool = False) -> int:
        number = parse_version(version)

        def decide(state: RegistryState) -> Decision[int]:
            _check_writable(state, subject)
            versions = state.versions(subject, include_deleted=True)
            if not versions:
                raise errors.subject_not_found(subject)
            if number == LATEST:
                candidates = versions if permanent else [v for v in versions if not v.deleted]
                if not candidates:
                    raise errors.version_not_found(version)
                target = candidates[-1]
            else:
                found = state.version(subject, number)
                if found is None:
                    raise errors.version_not_found(number)
                target = found
            if permanent and not target.deleted:
                raise errors.version_not_soft_deleted(subject, target.version)
            if not permanent and target.deleted:
                raise errors.version_soft_deleted(subject, target.version)
            _check_unreferenced(state, target, permanent=permanent)
            return Decision(target.version, (_deletion(target, permanent),))

        deleted = self._store.write(decide)
        logger.info("deleted %s version %d (permanent=%s)", subject, deleted, permanent)
        return deleted

    def set_compatibility(self, level: object, subject: str | None = None) -> CompatibilityLevel:
        parsed = parse_compatibility(level)
        if subject is not None:
            check_subject(subject)
        return self._store.write(lambda _state: Decision(parsed, (LogRecord(ConfigKey(subject), parsed),)))

    def delete_compatibility(self, subject: str | None = None) -> CompatibilityLevel:
        """Remove a level; return the one that applied before. The global level falls back to the default."""

        def decide(state: RegistryState) -> Decision[CompatibilityLevel]:
            current = state.compatibility(subject)
            if subject is None:
                previous = current or state.default_compatibility
            elif current is None:
                raise errors.subject_not_found(subject)
            else:
                previous = current
            records = (LogRecord(ConfigKey(subject), None),) if current is not None else ()
            return Decision(previous, records)

        return self._store.write(decide)

    def set_mode(self, mode: object, subject: str | None = None, *, force: bool = False) -> Mode:
        parsed = parse_mode(mode)
        if subject is not None:
            check_subject(subject)

        def decide(state: RegistryState) -> Decision[Mode]:
            if parsed is Mode.IMPORT and not force:
                current = state.mode(None) if subject is None else state.effective_mode(subject)
                scope = state.subjects() if subject is None else [subject]
                if current is not Mode.IMPORT and any(state.versions(s) for s in scope):
                    raise errors.operation_not_permitted("Cannot import since found existing subjects")
            return Decision(parsed, (LogRecord(ModeKey(subject), parsed),))

        return self._store.write(decide)

    def delete_mode(self, subject: str | None = None) -> Mode:
        def decide(state: RegistryState) -> Decision[Mode]:
            current = state.mode(subject)
            if current is None:
                if subject is not None:
                    raise errors.subject_not_found(subject)
                return Decision(Mode.READWRITE)
            return Decision(current, (LogRecord(ModeKey(subject), None),))

        return self._store.write(decide)

    # --- the rules ----------------------------------------------------------------------------------------

    def _read(self, query: Callable[[RegistryState], _T]) -> _T:
        """Run `query`; before answering "not found", catch up with what other instances wrote."""
        try:
            return self._store.read(query)
        except RegistryApiError as exc:
            if exc.http_status != 404 or not self._store.started:
                raise
        # If the log is unreachable, the answer from what we have is the best there is.
        with contextlib.suppress(RegistryApiError):
            self._store.sync(READ_SYNC_TIMEOUT_S)
        return self._store.read(query)

    def _decide_register(
        self,
        state: RegistryState,
        subject: str,
        request: SchemaRequest,
        normalize: bool,
        *,
        level: CompatibilityLevel | None = None,
        extra: tuple[LogRecord, ...] = (),
    ) -> Decision[Registered]:
        mode = state.effective_mode(subject)
        requested_id = request.schema_id if request.schema_id is not None and request.schema_id >= 0 else None
        requested_version = request.version if request.version is not None and request.version > 0 else None
        if mode is Mode.READONLY:
            raise errors.operation_not_permitted(f"Subject {subject} is in read-only mode")
        if requested_id is not None and mode is not Mode.IMPORT:
            raise errors.operation_not_permitted(f"Subject {subject} is not in import mode")
        if requested_id is None and mode is Mode.IMPORT:
            raise errors.operation_not_permitted(f"Subject {subject} is not in read-write mode")
        candidate = self._candidate(state, request, normalize=normalize)

        for existing in reversed(state.versions(subject)):
            if existing.identity == candidate.identity:
                if requested_id is not None and requested_id != existing.schema_id:
                    raise errors.id_does_not_match(existing.schema_id, requested_id)
                return Decision(Registered(existing.schema_id, existing.version, existing.guid), extra)

        if mode is not Mode.IMPORT:
            effective = level or state.effective_compatibility(subject)
            messages = self._incompatibilities(state, candidate, state.versions(subject), effective)
            if messages:
                raise errors.incompatible_schema(subject, [*messages, f"{{compatibility: '{effective}'}}"])

        schema_id = _assign_id(state, candidate, requested_id)
        version = _assign_version(state, subject, requested_version, importing=mode is Mode.IMPORT)
        holders = state.versions_with_id(schema_id)
        guid = holders[0].guid if holders else str(uuid.uuid5(_GUID_NAMESPACE, f"{schema_id}:{candidate.fingerprint}"))
        registered = SubjectVersion(
            subject=subject,
            version=version,
            schema_id=schema_id,
            schema=candidate.text,
            references=candidate.references,
            fingerprint=candidate.fingerprint,
            guid=guid,
        )
        records = [*extra, LogRecord.version(registered)]
        if schema_id > state.max_id:
            records.append(LogRecord.id_high_water(schema_id))
        return Decision(Registered(schema_id, version, guid), tuple(records))

    def _candidate(self, state: RegistryState, request: SchemaRequest, *, normalize: bool) -> _Candidate:
        schema_type = (request.schema_type or "AVRO").upper()
        if schema_type not in SUPPORTED_SCHEMA_TYPES:
            raise errors.invalid_schema(f"Invalid schema type {request.schema_type}: this registry supports AVRO only")
        if request.schema is None or not request.schema.strip():
            raise errors.invalid_schema("Empty schema")
        references = _pin_references(state, request.references)
        try:
            parsed = parse_schema(request.schema, references=_reference_texts(state, references))
        except InvalidSchemaError as exc:
            raise errors.invalid_schema(f"Invalid schema, details: {exc}") from exc
        text = normalize_schema(parsed) if normalize else _compact(request.schema)
        return _Candidate(schema=parsed, text=text, fingerprint=fingerprint(parsed), references=references)

    def _incompatibilities(self, state: RegistryState, candidate: _Candidate, existing: Sequence[SubjectVersion],
                           level: CompatibilityLevel) -> list[str]:
        if level is CompatibilityLevel.NONE or not existing:
            return []
        return check_compatibility(candidate.schema, [self._parse_stored(state, v) for v in existing], level)

    def _parse_stored(self, state: RegistryState, version: SubjectVersion) -> AvroSchema:
        parsed = self._parsed.get(version.schema_id)
        if parsed is None:
            try:
                parsed = parse_schema(version.schema, references=_reference_texts(state, version.references))
            except (SchemaError, RegistryApiError) as exc:
                raise RegistryApiError(
                    ErrorCode.STORE_ERROR, f"stored schema {version.schema_id} ({version.subject} v{version.version}) "
                                           "no longer parses"
                ) from exc
            self._parsed[version.schema_id] = parsed
        return parsed


def _find_version(state: RegistryState, subject: str, number: int, *, deleted: bool) -> SubjectVersion:
    versions = state.versions(subject, include_deleted=deleted)
    if not versions:
        raise errors.subject_not_found(subject)
    if number == LATEST:
        return versions[-1]
    found = state.version(subject, number)
    if found is None or (found.deleted and not deleted):
        raise errors.version_not_found(number)
    return found


def _check_writable(state: RegistryState, subject: str) -> None:
    if state.effective_mode(subject) is Mode.READONLY:
        raise errors.operation_not_permitted(f"Subject {subject} is in read-only mode")


def _check_unreferenced(state: RegistryState, target: SubjectVersion, *, permanent: bool) -> None:
    # A soft-deleted referrer still resolves its references (it can be read by id), so it blocks a
    # permanent delete but not a soft one.
    for referrer in state.referrers(target.subject, target.version):
        if permanent or not referrer.deleted:
            raise errors.reference_exists(target.subject, target.version)


def _deletion(target: SubjectVersion, permanent: bool) -> LogRecord:
    if permanent:
        return LogRecord(SchemaKey(target.subject, target.version), None)
    return LogRecord.version(replace(target, deleted=True))


def _assign_id(state: RegistryState, candidate: _Candidate, requested_id: int | None) -> int:
    if requested_id is not None:
        holders = state.versions_with_id(requested_id)
        if holders and holders[0].identity != candidate.identity:
            raise errors.operation_not_permitted(f"Overwrite new schema with id {requested_id} is not permitted.")
        return requested_id
    existing = state.id_for(candidate.identity)
    return existing if existing is not None else state.max_id + 1


def _assign_version(state: RegistryState, subject: str, requested: int | None, *, importing: bool) -> int:
    versions = state.versions(subject, include_deleted=True)
    next_version = versions[-1].version + 1 if versions else 1
    if requested is None:
        return next_version
    if importing:
        if state.version(subject, requested) is not None:
            raise errors.operation_not_permitted(
                f"Overwrite of version {requested} of subject {subject} is not permitted.")
        return requested
    if requested != next_version:
        raise errors.operation_not_permitted(
            f"Version {requested} of subject {subject} is not the next version ({next_version})")
    return requested


def _pin_references(state: RegistryState, references: Sequence[Reference]) -> tuple[Reference, ...]:
    """The references with "latest" (-1) replaced by the version it means now, so the stored form is fixed."""
    pinned = []
    for reference in references:
        if reference.version != LATEST:
            pinned.append(reference)
            continue
        live = state.versions(reference.subject)
        if not live:
            raise errors.invalid_schema(f"Invalid schema, details: reference {reference.name!r} names subject "
                                        f"{reference.subject!r}, which has no versions")
        pinned.append(replace(reference, version=live[-1].version))
    return tuple(pinned)


def _reference_texts(state: RegistryState, references: Sequence[Reference]) -> dict[str, str]:
    """Name -> schema text for every reference, transitively, each after the ones it depends on."""
    resolved: dict[str, str] = {}

    def visit(reference: Reference, depth: int) -> None:
        if reference.name in resolved:
            return
        if depth > MAX_REFERENCE_DEPTH:
            raise errors.invalid_schema(f"Invalid schema, details: references nest deeper than {MAX_REFERENCE_DEPTH}")
        target = state.version(reference.subject, reference.version)
        if target is None:
            raise errors.invalid_schema(
                f"Invalid schema, details: reference {reference.name!r} to {reference.subject!r} "
                f"version {reference.version} not found")
        for inner in target.references:
            visit(inner, depth + 1)
        resolved[reference.name] = target.schema

    for reference in references:
        visit(reference, 0)
    return resolved


def _compact(text: str) -> str:
    """The schema JSON without insignificant whitespace (what Confluent stores when not normalizing)."""
    return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
