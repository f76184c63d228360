"""FHIR JSON in and out, keeping decimals exactly as sent.

FHIR decimals carry their precision (`1.50` is not `1.5`), so numbers with a fraction or exponent are read as
`Decimal` and written back digit for digit; the stdlib would round-trip them through float. Duplicate keys,
NaN/Infinity, a top level that is not an object, and nesting deeper than `MAX_DEPTH` are rejected here, before
any FHIR validation. Errors name the problem, never the input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from producers.fhir.errors import Issue, MalformedRequestError

__all__ = ["MAX_DEPTH", "dumps", "loads"]

MAX_DEPTH: Final = 64
"""Deeper JSON than any FHIR resource needs; refusing it keeps validators far from the recursion limit."""


class _DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError
        result[key] = value
    return result


def _reject_constant(_name: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


def _depth(value: Any, limit: int) -> bool:
    """True when `value` nests no deeper than `limit` (iterative: no recursion on hostile input)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return True


def loads(body: bytes) -> dict[str, Any]:
    """Parse a request body as one JSON object; raise MalformedRequestError otherwise."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MalformedRequestError([Issue("structure", None, "the body is not UTF-8")]) from None
    try:
        value = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant,
                           object_pairs_hook=_no_duplicates)
    except _DuplicateKeyError:
        raise MalformedRequestError([Issue("structure", None, "a JSON object repeats a property name")]) from None
    except RecursionError:
        raise MalformedRequestError([Issue("structure", None, "the JSON is nested too deeply")]) from None
    except ValueError:  # JSONDecodeError and the NaN guard; their messages quote the input
        raise MalformedRequestError([Issue("structure", None, "the body is not valid JSON")]) from None
    if not isinstance(value, dict):
        raise MalformedRequestError([Issue("structure", None, "the body must be a JSON object (a FHIR resource)")])
    if not _depth(value, MAX_DEPTH):
        raise MalformedRequestError([Issue("structure", None, "the JSON is nested too deeply")])
    return value


def _encode(value: Any, out: list[str]) -> None:
    if isinstance(value, Mapping):
        out.append("{")
        for position, (key, item) in enumerate(value.items()):
            if position:
                out.append(",")
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif isinstance(value, Decimal):
        out.append(str(value))  # exactly the digits that were read
    else:
        out.append(json.dumps(value, ensure_ascii=False))


def dumps(value: Any) -> bytes:
    """Serialize JSON-like data (dicts, lists, str, int, bool, None, Decimal) as compact UTF-8 JSON."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode("utf-8")
