"""Hypothesis strategies that draw valid Avro schemas as JSON values, for the registry's property tests.

Every schema drawn is valid: names are unique (`T0`, `T1`, ...), union branches are distinct, references
only name types defined earlier (or the record being defined, which makes it recursive), and the only
defaults are ones known to fit their type.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

__all__ = ["avro_schemas"]

PRIMITIVES = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")
LOGICAL_TYPES = (
    {"type": "int", "logicalType": "date"},
    {"type": "long", "logicalType": "timestamp-millis"},
    {"type": "string", "logicalType": "uuid"},
    {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2},
)
DEFAULTS: dict[str, Any] = {
    "null": None,
    "boolean": True,
    "int": 7,
    "long": -3,
    "float": 1.5,
    "double": 0.25,
    "bytes": "\u00ff",
    "string": "x",
}
NAMESPACES = (None, "", "a", "b.c")
SYMBOLS = ("A", "B", "C", "D")


@st.composite
def avro_schemas(draw: st.DrawFn, max_depth: int = 3) -> Any:
    defined: list[str] = []

    def define(namespace: str | None) -> tuple[dict[str, Any], str | None]:
        own = draw(st.sampled_from(NAMESPACES))
        name = f"T{len(defined)}"
        space = own if own is not None else namespace
        defined.append(f"{space}.{name}" if space else name)
        header: dict[str, Any] = {"name": name}
        if own is not None:
            header["namespace"] = own
        if draw(st.booleans()):
            header["aliases"] = [f"Old{name}"]
        return header, space

    def named(kind: str, depth: int, namespace: str | None) -> dict[str, Any]:
        header, space = define(namespace)
        if kind == "enum":
            symbols = draw(st.lists(st.sampled_from(SYMBOLS), min_size=1, unique=True))
            schema = {"type": "enum", **header, "symbols": symbols}
            if draw(st.booleans()):
                schema["default"] = draw(st.sampled_from(symbols))
            return schema
        if kind == "fixed":
            return {"type": "fixed", **header, "size": draw(st.integers(0, 16))}
        fields = []
        for index in range(draw(st.integers(0, 4))):
            field_type = any_schema(depth - 1, space)
            field: dict[str, Any] = {"name": f"f{index}", "type": field_type}
            default_type = field_type[0] if isinstance(field_type, list) and field_type else field_type
            if isinstance(default_type, str) and default_type in DEFAULTS and draw(st.booleans()):
                field["default"] = DEFAULTS[default_type]
            if draw(st.booleans()):
                field["aliases"] = [f"old_f{index}"]
            fields.append(field)
        return {"type": "record", **header, "fields": fields}

    def union(depth: int, namespace: str | None) -> list[Any]:
        # Kinds are chosen before anything is drawn, so no branch (and no type it defines) is thrown away.
        branches: list[Any] = list(draw(st.lists(st.sampled_from(PRIMITIVES), unique=True, max_size=3)))
        branches += draw(st.lists(st.sampled_from(defined), unique=True, max_size=2)) if defined else []
        for container in ("array", "map"):
            if draw(st.booleans()):
                inner = any_schema(depth, namespace, in_union=False)
                branches.append({"type": container, "items" if container == "array" else "values": inner})
        for _ in range(draw(st.integers(0, 2))):
            branches.append(named(draw(st.sampled_from(("record", "enum", "fixed"))), depth, namespace))
        return branches or ["null"]

    def any_schema(depth: int, namespace: str | None, *, in_union: bool = False) -> Any:
        kinds = ["primitive", "primitive_object", "logical"] + (["reference"] if defined else [])
        if depth > 0:
            kinds += ["array", "map", "record", "enum", "fixed"] + ([] if in_union else ["union"])
        kind = draw(st.sampled_from(kinds))
        if kind == "primitive":
            return draw(st.sampled_from(PRIMITIVES))
        if kind == "primitive_object":
            return {"type": draw(st.sampled_from(PRIMITIVES))}
        if kind == "logical":
            return dict(draw(st.sampled_from(LOGICAL_TYPES)))
        if kind == "reference":
            return draw(st.sampled_from(defined))
        if kind == "array":
            return {"type": "array", "items": any_schema(depth - 1, namespace)}
        if kind == "map":
            return {"type": "map", "values": any_schema(depth - 1, namespace)}
        if kind == "union":
            return union(depth - 1, namespace)
        return named(kind, depth, namespace)

    return any_schema(max_depth, None)
