"""Plans for writing resources, and refusals: the pure bookkeeping behind `IngestService`.

A `Planned` write is one resource on its way (a lone create/update, or a transaction/batch entry): what its
request targets, then, once resolved against the idempotency store, its id, version and whether it matched an
existing resource. A `Failure` is a refusal with its status, issues and reason code. The functions here decide
guard keys, duplicate entries, a Bundle's aggregate failure and its response entries; none does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from producers.fhir.errors import ConditionalRequestError, FhirInputError, InvalidResourceError, Issue
from producers.fhir.idempotency import KnownResource
from producers.fhir.interactions import ID_CHARACTERS, Criteria, EntryTarget, instant, location, status_of
from producers.fhir.outcome import entry_response, operation_outcome

__all__ = ["Failure", "Planned", "aggregate", "bundle_entries", "check_id", "flag_duplicates", "guard_keys"]


@dataclass(frozen=True)
class Failure:
    """A refusal: status, issues, the reason code, and whether the bytes go to the dead-letter topic."""

    status: int
    issues: tuple[Issue, ...]
    reason: str
    dead_letter: bool = True

    @classmethod
    def one(cls, status: int, code: str, expression: str | None, diagnostics: str, reason: str, *,
            dead_letter: bool = True) -> Failure:
        """A refusal with a single issue."""
        return cls(status, (Issue(code, expression, diagnostics),), reason, dead_letter)

    @classmethod
    def of(cls, error: FhirInputError | ConditionalRequestError) -> Failure:
        if isinstance(error, ConditionalRequestError):
            return cls(error.status, (error.issue,), error.reason, dead_letter=False)
        return cls(status_of(error), error.issues, error.reason)


@dataclass
class Planned:
    """A transaction/batch entry on its way: its target, then its id and version once resolved."""

    index: int
    resource: dict[str, Any]
    full_url: str | None
    target: EntryTarget
    interaction: Literal["create", "update"]
    if_none_exist: Criteria | None = None
    if_match: int | None = None
    resource_id: str | None = None
    version: int = 1
    existed: bool = False
    matched: KnownResource | None = None


def bundle_entries(base_url: str, count: int, plans: Sequence[Planned], failures: Mapping[int, Failure],
                   received: datetime) -> list[dict[str, Any]]:
    """The `entry` list of a transaction-response or batch-response, one per request entry, in order."""
    by_index = {plan.index: plan for plan in plans}
    entries = []
    for index in range(count):
        failure = failures.get(index)
        plan = by_index.get(index)
        if failure is not None or plan is None:
            failure = failure or Failure.one(400, "processing", None, "entry not processed", "unknown")
            entries.append(entry_response(failure.status, outcome=operation_outcome(failure.issues)))
            continue
        kind = plan.target.resource_type
        if plan.matched is not None:
            known = plan.matched
            entries.append(entry_response(200, location=location(base_url, kind, known.id, known.version),
                                          etag=f'W/"{known.version}"', last_modified=instant(known.last_updated)))
            continue
        status = 200 if plan.existed and plan.interaction == "update" else 201
        entries.append(entry_response(status, location=location(base_url, kind, plan.resource_id or "",
                                                                plan.version),
                                      etag=f'W/"{plan.version}"', last_modified=instant(received)))
    return entries


def check_id(resource: Mapping[str, Any], where: str) -> None:
    ident = resource.get("id")
    if ident is not None and not (isinstance(ident, str) and 0 < len(ident) <= 64
                                  and set(ident) <= ID_CHARACTERS):
        raise InvalidResourceError([Issue("value", where, "a resource id is 1 to 64 of A-Z a-z 0-9 - .")])


def guard_keys(plans: Sequence[Planned]) -> list[str]:
    keys = []
    for plan in plans:
        kind = plan.target.resource_type
        if plan.target.resource_id is not None:
            keys.append(f"{kind}/{plan.target.resource_id}")
        if plan.target.criteria is not None:
            keys.append(plan.target.criteria.key)
        if plan.if_none_exist is not None:
            keys.append(plan.if_none_exist.key)
    return keys


def flag_duplicates(plans: Sequence[Planned], failures: dict[int, Failure]) -> None:
    """Two entries may not write the same resource in one Bundle (FHIR transaction rules)."""
    seen: set[str] = set()
    for plan in plans:
        keys = [key for key in guard_keys([plan]) if key]
        if any(key in seen for key in keys):
            failures[plan.index] = Failure.one(400, "duplicate", f"Bundle.entry[{plan.index}].request",
                                               "another entry already writes this resource", "duplicate-entry")
        seen.update(keys)


def aggregate(failures: Mapping[int, Failure]) -> Failure:
    """One failure for a whole Bundle: every issue; the entries' common status, else 400."""
    ordered = [failures[index] for index in sorted(failures)]
    statuses = {failure.status for failure in ordered}
    status = statuses.pop() if len(statuses) == 1 else 400
    if status in (404, 405):  # the POST itself is allowed and found: what it carries is unprocessable
        status = 422
    # The entries of one unit share its failure: list each issue once.
    issues = tuple(dict.fromkeys(issue for failure in ordered for issue in failure.issues))
    reason = ordered[0].reason if len({failure.reason for failure in ordered}) == 1 else "invalid-entries"
    return Failure(status, issues, reason, dead_letter=any(failure.dead_letter for failure in ordered))
