"""FHIR R4 validation with fhir.resources' R4B models, and its errors as FHIRPath-like expressions.

R4B is the only 4.x package fhir.resources ships; for the resources this adapter ingests (Patient, Encounter,
ServiceRequest, Observation, DiagnosticReport, Claim, and what they contain) R4B is R4 4.0.1.

A pydantic error's location becomes an expression: `('name', 0, 'given')` on a Patient is `Patient.name[0].given`,
and a choice-type conflict (`valueQuantity` and `valueString` both present), which fhir.resources reports on the
parent, becomes `Observation.value[x]`. The messages are never copied: pydantic quotes the input in some of them,
and the input may be a name or a date of birth. fhir.resources does not check required bindings (an unknown
`gender` or `status` passes), so the mappers check the codes they use (`require_code`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from functools import lru_cache
from typing import Any, Final

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from pydantic import ValidationError

from producers.fhir.errors import InvalidResourceError, Issue

__all__ = [
    "expression_of",
    "is_resource_type",
    "pydantic_issues",
    "require_code",
    "validate_resource",
]

_ABSTRACT_TYPES: Final = frozenset({"Resource", "DomainResource"})
_CHOICE_LIST: Final = re.compile(r"\[((?:'[A-Za-z]+'(?:, )?)+)\]")
_CHOICE_NAME: Final = re.compile(r"'([A-Za-z]+)'")
_DIAGNOSTICS: Final[Mapping[str, str]] = {
    "missing": "a required element is missing",
    "model_field_validation.missing": "a required element is missing",
    "extra_forbidden": "unknown element (not part of this FHIR R4 resource)",
    "list_type": "this element repeats: it must be a JSON array",
    "model_type": "this element must be a JSON object",
    "string_type": "this element must be a string",
    "bool_type": "this element must be a boolean",
    "bool_parsing": "this element must be a boolean",
    "int_type": "this element must be an integer",
    "int_parsing": "this element must be an integer",
    "decimal_type": "this element must be a decimal number",
    "decimal_parsing": "this element must be a decimal number",
    "string_pattern_mismatch": "the value does not match the format of its FHIR datatype",
    "string_too_short": "the value must not be empty",
    "value_error": "the value is not valid for its FHIR datatype",
    "fhir-validation-wrong-resource-type": "resourceType does not match the expected resource",
}


@lru_cache(maxsize=256)
def is_resource_type(name: str) -> bool:
    """True when `name` is a concrete FHIR R4 resource type (`Patient`, not `Quantity` or `DomainResource`)."""
    if not name.isidentifier() or name in _ABSTRACT_TYPES:
        return False
    try:
        model = get_fhir_model_class(name)
    except (ValueError, AttributeError):
        return False
    return issubclass(model, Resource)


def expression_of(root: str, loc: tuple[str | int, ...]) -> str:
    """`('name', 0, 'given')` under `Patient` -> `Patient.name[0].given`."""
    parts = [root]
    for part in loc:
        if isinstance(part, int):
            parts[-1] += f"[{part}]"
        else:
            parts.append(str(part))
    return ".".join(parts)


def _choice_base(message: str) -> str | None:
    """The `value` of `value[x]` from fhir.resources' one-of-many message, which lists only element names."""
    listed = _CHOICE_LIST.search(message)
    if listed is None:
        return None
    names = _CHOICE_NAME.findall(listed.group(1))
    if not names:
        return None
    common = 0
    while all(len(name) > common and name[common] == names[0][common] for name in names):
        common += 1
    for cut in range(common, 0, -1):  # back to where every name starts its type suffix (`valueDate`/`valueDateTime`)
        if all(len(name) > cut and name[cut].isupper() for name in names):
            return names[0][:cut]
    return None


def pydantic_issues(exc: ValidationError, root: str) -> list[Issue]:
    """One issue per validation error, located by expression, with value-free diagnostics."""
    issues: list[Issue] = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = tuple(part for part in error["loc"] if isinstance(part, str | int))
        kind = str(error["type"])
        message = str(error.get("msg", ""))
        code = "required" if "missing" in kind else ("structure" if kind.endswith("_type") else "value")
        diagnostics = _DIAGNOSTICS.get(kind, f"invalid element ({kind})")
        base = _choice_base(message) if kind == "value_error" else None
        if base is not None:
            loc = (*loc, f"{base}[x]")
            code = "structure"
            diagnostics = "only one of the choice elements may be present"
        elif kind == "extra_forbidden":
            code = "structure"
        issues.append(Issue(code, expression_of(root, loc), diagnostics))
    return issues


def _contained_type_issues(data: Mapping[str, Any], root: str) -> list[Issue]:
    contained = data.get("contained")
    if not isinstance(contained, list):
        return []
    issues = []
    for index, item in enumerate(contained):
        kind = item.get("resourceType") if isinstance(item, dict) else None
        if not isinstance(kind, str) or not is_resource_type(kind):
            issues.append(Issue("structure", f"{root}.contained[{index}].resourceType",
                                "not a FHIR R4 resource type"))
    return issues


def validate_resource(data: Mapping[str, Any], *, expression: str | None = None) -> FHIRAbstractModel:
    """Validate `data` (parsed JSON) as the R4 resource its `resourceType` names.

    `expression` roots the issues (default: the resource type; `Bundle.entry[2].resource` inside a Bundle).
    Raises InvalidResourceError, with every problem found.
    """
    kind = data.get("resourceType")
    root = expression or (kind if isinstance(kind, str) else "Resource")
    if not isinstance(kind, str) or not is_resource_type(kind):
        raise InvalidResourceError([Issue("structure", f"{root}.resourceType", "not a FHIR R4 resource type")])
    issues = _contained_type_issues(data, root)
    if issues:
        raise InvalidResourceError(issues)
    try:
        return get_fhir_model_class(kind).model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidResourceError(pydantic_issues(exc, root)) from exc
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        # fhir_core raises these for shapes it does not expect (a contained resource without a known type);
        # their text may quote the input, so only the fact is kept.
        raise InvalidResourceError([Issue("structure", root, "the resource could not be read as FHIR R4")]) from exc


def require_code(value: str | None, allowed: Collection[str], expression: str, *, required: bool = False) -> None:
    """Check a code against its required binding (fhir.resources does not); None passes unless `required`."""
    if value is None:
        if required:
            raise InvalidResourceError([Issue("required", expression, "a required element is missing")])
        return
    if value not in allowed:
        raise InvalidResourceError([Issue("code-invalid", expression,
                                          "the code is not in the element's required value set")])
