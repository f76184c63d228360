"""OperationOutcome and Bundle-response bodies, built from structured issues (never from input values)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from producers.fhir.errors import Issue

__all__ = ["entry_response", "operation_outcome", "outcome_detail", "status_line"]


def operation_outcome(issues: Sequence[Issue]) -> dict[str, Any]:
    """An OperationOutcome with one issue per `Issue`."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": issue.severity,
                "code": issue.code,
                "diagnostics": issue.diagnostics,
                **({"expression": [issue.expression]} if issue.expression else {}),
            }
            for issue in issues
        ],
    }


def status_line(status: int) -> str:
    """`201 Created`: how a Bundle-response entry states its status."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def entry_response(status: int, *, location: str | None = None, etag: str | None = None,
                   last_modified: str | None = None, outcome: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One `Bundle.entry` of a transaction-response or batch-response."""
    response: dict[str, Any] = {"status": status_line(status)}
    if location:
        response["location"] = location
    if etag:
        response["etag"] = etag
    if last_modified:
        response["lastModified"] = last_modified
    if outcome is not None:
        response["outcome"] = dict(outcome)
    return {"response": response}


def outcome_detail(issues: Sequence[Issue], limit: int = 900) -> str:
    """A dead-letter detail header: where and what kind of problem, no values, bounded in size."""
    text = "; ".join(f"{issue.expression or '(request)'}: {issue.code}" for issue in issues)
    return text if len(text) <= limit else text[: limit - 3] + "..."
