"""The FHIR adapter's errors, under `carebus.errors.CarebusError`.

    CarebusError
    └── FhirError                         anything the FHIR adapter raises on purpose
        ├── FhirInputError                the request is bad input: answered 4xx, dead-lettered, nothing published
        │   ├── MalformedRequestError     not JSON, not a FHIR resource, wrong resourceType for the endpoint (400)
        │   ├── InvalidResourceError      fails FHIR R4 validation, incl. codes outside a required binding (400)
        │   ├── UnsupportedResourceError  a resource type this adapter does not ingest (404; per entry in a Bundle)
        │   ├── UnsupportedInteractionError  a Bundle type or entry method the adapter does not serve (405/422)
        │   └── UnmappableResourceError   valid FHIR that the canonical contract cannot carry, or a business rule
        │                                 rejects (a ServiceRequest that is only a proposal, say) (422)
        └── ConditionalRequestError       If-None-Exist / If-Match / conditional update could not be honoured
                                          (multiple matches, version mismatch: 412; bad criteria: 400)

Every error carries `issues`: where (a FHIRPath-like `expression` such as `Bundle.entry[2].resource.birthDate`)
and why (a FHIR issue-type `code` and value-free `diagnostics`), never the offending value, so `str(error)`,
the OperationOutcome and the dead-letter headers built from it are safe to log. `reason` is a short, stable
reason code for metrics and dead-letter headers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from carebus.errors import CarebusError

__all__ = [
    "ConditionalRequestError",
    "FhirError",
    "FhirInputError",
    "InvalidResourceError",
    "Issue",
    "IssueSeverity",
    "MalformedRequestError",
    "UnmappableResourceError",
    "UnsupportedInteractionError",
    "UnsupportedResourceError",
]

IssueSeverity = Literal["fatal", "error", "warning", "information"]


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome.issue: a FHIR issue-type code, where, and a value-free explanation."""

    code: str
    """FHIR issue-type: invalid, structure, required, value, code-invalid, not-supported, business-rule, ..."""
    expression: str | None
    """FHIRPath-like location, e.g. `Patient.name[0].given`; None when the problem is the whole request."""
    diagnostics: str
    """Why, in words that never quote the input."""
    severity: IssueSeverity = "error"

    def prefixed(self, root: str, resource_type: str) -> Issue:
        """The same issue located under `root` (`Bundle.entry[3].resource`) when it is rooted at `resource_type`.

        An issue already located elsewhere (at another Bundle entry) stays where it is.
        """
        if self.expression is None:
            return Issue(self.code, root, self.diagnostics, self.severity)
        head, dot, rest = self.expression.partition(".")
        if head != resource_type:
            return self
        return Issue(self.code, f"{root}.{rest}" if dot else root, self.diagnostics, self.severity)


def _describe(issues: Sequence[Issue]) -> str:
    shown = "; ".join(f"{issue.expression or '(request)'}: {issue.code}" for issue in issues[:5])
    more = f" (+{len(issues) - 5} more)" if len(issues) > 5 else ""
    return shown + more


class FhirError(CarebusError):
    """The root of the FHIR adapter's errors."""


class FhirInputError(FhirError):
    """Bad input: the sender gets a 4xx OperationOutcome, the bytes go to `deadletter.fhir`."""

    reason: str = "invalid-input"

    def __init__(self, issues: Sequence[Issue], *, reason: str | None = None) -> None:
        if not issues:
            raise ValueError("an input error needs at least one issue")
        self.issues: tuple[Issue, ...] = tuple(issues)
        if reason is not None:
            self.reason = reason
        super().__init__(f"{self.reason}: {_describe(self.issues)}")

    def prefixed(self, root: str, resource_type: str) -> FhirInputError:
        """The same error with the issues rooted at `resource_type` relocated under `root` (a Bundle entry)."""
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.issues = tuple(issue.prefixed(root, resource_type) for issue in self.issues)
        Exception.__init__(clone, f"{self.reason}: {_describe(clone.issues)}")
        return clone


class MalformedRequestError(FhirInputError):
    """The body is not JSON, not a FHIR resource, or not the resource type the endpoint takes."""

    reason = "malformed-request"


class InvalidResourceError(FhirInputError):
    """The resource fails FHIR R4 validation (structure, cardinality, datatypes, required bindings)."""

    reason = "invalid-resource"


class UnsupportedResourceError(FhirInputError):
    """A resource type this adapter does not ingest."""

    reason = "unsupported-resource-type"

    def __init__(self, issues: Sequence[Issue], *, reason: str | None = None, resource_type: str = "") -> None:
        super().__init__(issues, reason=reason)
        self.resource_type = resource_type

    @classmethod
    def for_type(cls, resource_type: str, expression: str | None) -> UnsupportedResourceError:
        return cls([Issue("not-supported", expression,
                          "resource type not ingested by this server (see the CapabilityStatement)")],
                   resource_type=resource_type)


class UnsupportedInteractionError(FhirInputError):
    """A Bundle type or entry method (DELETE, GET, PATCH, ...) that this adapter does not serve."""

    reason = "unsupported-interaction"


class UnmappableResourceError(FhirInputError):
    """Valid FHIR that the canonical contract cannot carry, or that a business rule rejects."""

    reason = "unmappable-resource"


class ConditionalRequestError(FhirError):
    """A conditional create/update or If-Match precondition that cannot be honoured."""

    def __init__(self, status: int, issue: Issue, *, reason: str) -> None:
        super().__init__(f"{reason}: {issue.expression or '(request)'}: {issue.code}")
        self.status = status
        self.issue = issue
        self.reason = reason
