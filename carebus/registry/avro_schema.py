"""Avro schemas: parse and validate them, and the text forms used to compare them.

`parse_schema` turns schema JSON into a graph of frozen nodes (`RecordSchema`, `UnionSchema`, ...). A named
type is one node however often it is referred to, and a recursive type points back at itself. The
compatibility checker depends on that identity: like Avro Java, it memoizes reader/writer pairs by identity.

Three text forms, for three jobs:

- `to_canonical_form`: the Avro specification's Parsing Canonical Form. It keeps only what decides the binary
  encoding, so it identifies the wire format; `parsing_fingerprint` hashes it (SHA-256, MD5 or CRC-64-AVRO,
  equal to what Avro Java and fastavro compute).
- `normalize`: what the registry stores for `normalize=true`, so that schemas that say the same thing are
  byte-equal. It keeps everything that matters to compatibility or to people (defaults, aliases, doc,
  logical types, custom properties) and canonicalizes only the spelling:
    * no whitespace outside strings; non-ASCII characters unescaped;
    * `{"type": "int"}` and `{"type": "Name"}` with nothing else become `"int"` and `"Name"`;
    * every name is written in full (`"name": "com.acme.Patient"`) and `namespace` is dropped, except as
      `"namespace": ""` on a type in no namespace defined inside a namespaced one (a full name cannot say
      "no namespace"); relative aliases are qualified with their type's namespace;
    * a named type is defined where it first occurs and referred to by full name after that; types that
      come from Confluent references stay references;
    * keys come in a fixed order: `name`, `type`, then the one structural key (`fields`, `symbols`, `size`,
      `items` or `values`), then every other key sorted by name;
    * aliases are sorted; defaults and property values have their object keys sorted;
    * defaults are dropped: `"order": "ascending"`, an empty `doc`, `"scale": 0` on a decimal.
  Field order, enum symbol order and union branch order are kept: each decides the encoding.
- `fingerprint`: the SHA-256 of the normalized form with references written out in full. It is the dedup key
  for registration. The spec fingerprint would not do: it ignores defaults, so a version that only adds a
  default would be mistaken for the one before it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import ClassVar, Literal, TypeAlias

import fastavro.schema

from carebus.errors import InvalidSchemaError

__all__ = [
    "ArraySchema",
    "AvroSchema",
    "AvroType",
    "EnumSchema",
    "Field",
    "FieldOrder",
    "FingerprintAlgorithm",
    "FixedSchema",
    "JsonValue",
    "MapSchema",
    "NamedSchema",
    "PrimitiveSchema",
    "RecordSchema",
    "SchemaNode",
    "UnionSchema",
    "fingerprint",
    "normalize",
    "parse_schema",
    "parsing_fingerprint",
    "to_canonical_form",
]

NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PRIMITIVE_TYPE_NAMES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
FIELD_ORDERS = ("ascending", "descending", "ignore")
INT_RANGE = range(-(2**31), 2**31)
LONG_RANGE = range(-(2**63), 2**63)
# Avro Java accepts these strings as float/double defaults; JSON itself has no spelling for them.
NON_FINITE_FLOAT_DEFAULTS = frozenset({"NaN", "Infinity", "-Infinity"})

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
FieldOrder: TypeAlias = Literal["ascending", "descending", "ignore"]


class AvroType(StrEnum):
    """The Avro schema types. Member names are what Avro Java prints (`INT`), values what the JSON says."""

    NULL = "null"
    BOOLEAN = "boolean"
    INT = "int"
    LONG = "long"
    FLOAT = "float"
    DOUBLE = "double"
    BYTES = "bytes"
    STRING = "string"
    RECORD = "record"
    ENUM = "enum"
    ARRAY = "array"
    MAP = "map"
    UNION = "union"
    FIXED = "fixed"


class FingerprintAlgorithm(StrEnum):
    """The fingerprints the Avro specification defines over the Parsing Canonical Form."""

    SHA256 = "sha256"
    MD5 = "md5"
    CRC64_AVRO = "crc-64-avro"


# Nodes compare by identity (eq=False): two structurally equal records are still two types to the checker,
# exactly as two parsed org.apache.avro.Schema objects are to Avro Java.


@dataclass(frozen=True, eq=False, kw_only=True)
class PrimitiveSchema:
    """`null`, `boolean`, `int`, `long`, `float`, `double`, `bytes` or `string`, with any extra attributes."""

    type: AvroType
    props: Mapping[str, JsonValue]

    @property
    def logical_type(self) -> str | None:
        value = self.props.get("logicalType")
        return value if isinstance(value, str) else None

    def __repr__(self) -> str:
        return f"PrimitiveSchema({self.type.value!r})"


@dataclass(frozen=True, eq=False, kw_only=True)
class ArraySchema:
    type: ClassVar[AvroType] = AvroType.ARRAY
    items: SchemaNode
    props: Mapping[str, JsonValue]

    def __repr__(self) -> str:
        return f"ArraySchema(items={self.items!r})"


@dataclass(frozen=True, eq=False, kw_only=True)
class MapSchema:
    type: ClassVar[AvroType] = AvroType.MAP
    values: SchemaNode
    props: Mapping[str, JsonValue]

    def __repr__(self) -> str:
        return f"MapSchema(values={self.values!r})"


@dataclass(frozen=True, eq=False, kw_only=True)
class UnionSchema:
    type: ClassVar[AvroType] = AvroType.UNION
    branches: tuple[SchemaNode, ...]

    def __repr__(self) -> str:
        return f"UnionSchema({list(self.branches)!r})"


@dataclass(frozen=True, eq=False, kw_only=True)
class NamedSchema:
    """What records, enums and fixed types share. `aliases` holds full names, as Avro Java resolves them."""

    fullname: str
    aliases: frozenset[str]
    doc: str | None
    props: Mapping[str, JsonValue]

    @property
    def name(self) -> str:
        return self.fullname.rpartition(".")[2]

    @property
    def namespace(self) -> str | None:
        return self.fullname.rpartition(".")[0] or None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.fullname!r})"


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class FixedSchema(NamedSchema):
    type: ClassVar[AvroType] = AvroType.FIXED
    size: int


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class EnumSchema(NamedSchema):
    type: ClassVar[AvroType] = AvroType.ENUM
    symbols: tuple[str, ...]
    default: str | None


@dataclass(frozen=True, eq=False, kw_only=True, repr=False)
class RecordSchema(NamedSchema):
    type: ClassVar[AvroType] = AvroType.RECORD
    # Filled in by the parser once the record's own name is known, so that fields can refer back to it.
    fields: tuple[Field, ...] = ()

    def field_named(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True, eq=False, kw_only=True)
class Field:
    """A record field. `default` means something only when `has_default` (a JSON `null` default is a default)."""

    name: str
    schema: SchemaNode
    position: int
    has_default: bool
    default: JsonValue
    aliases: tuple[str, ...]
    doc: str | None
    order: FieldOrder
    props: Mapping[str, JsonValue]

    def __repr__(self) -> str:
        return f"Field({self.name!r}, {self.schema!r})"


SchemaNode: TypeAlias = (
    PrimitiveSchema | ArraySchema | MapSchema | UnionSchema | FixedSchema | EnumSchema | RecordSchema
)


@dataclass(frozen=True, eq=False)
class AvroSchema:
    """A parsed, valid schema, with the Confluent references (name -> schema JSON) it was parsed against."""

    root: SchemaNode
    references: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Full names of the named types the references define; `normalize` keeps them as references.
    referenced_names: frozenset[str] = frozenset()

    @property
    def type(self) -> AvroType:
        return self.root.type

    @property
    def name(self) -> str | None:
        return self.root.fullname if isinstance(self.root, NamedSchema) else None

    def __repr__(self) -> str:
        return f"AvroSchema({self.name or self.type.value!r})"


def parse_schema(text: str, *, references: Mapping[str, str] | None = None) -> AvroSchema:
    """Parse and validate schema JSON; raise `InvalidSchemaError` naming where and why it is invalid.

    `references` maps a Confluent reference name to that schema's JSON. They are parsed first, in the order
    given (a reference that uses another must come after it), and the named types they define can be used
    by name in `text`.
    """
    names: dict[str, NamedSchema] = {}
    refs = dict(references or {})
    for ref_name, ref_text in refs.items():
        _Parser(names, f"reference {ref_name!r}").parse_document(ref_text)
    referenced_names = frozenset(names)
    root = _Parser(names, "schema").parse_document(text)
    schema = AvroSchema(root, MappingProxyType(refs), referenced_names)
    _check_with_fastavro(schema)
    return schema


def to_canonical_form(schema: AvroSchema) -> str:
    """The Parsing Canonical Form (Avro specification), with referenced types written out in full."""
    return _dump(_canonical_json(schema.root, set()))


def normalize(schema: AvroSchema) -> str:
    """The normalized form described in the module docstring; types from references stay references."""
    return _dump(_normalized_json(schema.root, set(schema.referenced_names)))


def fingerprint(schema: AvroSchema) -> str:
    """SHA-256 (hex) of the normalized form with references written out: the registry's dedup key."""
    resolved = _dump(_normalized_json(schema.root, set()))
    return hashlib.sha256(resolved.encode("utf-8")).hexdigest()


def parsing_fingerprint(schema: AvroSchema, algorithm: FingerprintAlgorithm = FingerprintAlgorithm.SHA256) -> str:
    """The Avro specification's fingerprint of the Parsing Canonical Form, as hex.

    CRC-64-AVRO comes out as its 8 little-endian bytes, the order single-object encoding writes it in.
    """
    canonical = to_canonical_form(schema)
    if algorithm is FingerprintAlgorithm.CRC64_AVRO:
        return str(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))
    # An identifier, not a security measure; FIPS builds refuse MD5 unless told so.
    return hashlib.new(algorithm.value, canonical.encode("utf-8"), usedforsecurity=False).hexdigest()


class _Parser:
    """Builds nodes from decoded JSON. `names` is shared, so references parsed earlier are visible."""

    def __init__(self, names: dict[str, NamedSchema], what: str) -> None:
        self._names = names
        self._what = what
        # Defaults are checked after the whole document is parsed: a recursive record's default can only be
        # checked once the record has its fields.
        self._defaults: list[tuple[str, Field]] = []

    def parse_document(self, text: str) -> SchemaNode:
        try:
            document = json.loads(text, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            raise InvalidSchemaError(f"invalid Avro {self._what}: not JSON ({where}): {exc.msg}") from exc
        except ValueError as exc:  # from _reject_constant
            raise InvalidSchemaError(f"invalid Avro {self._what}: not JSON: {exc}") from exc
        root = self._parse(document, None, "")
        for path, field_ in self._defaults:
            if not _is_valid_default(field_.schema, field_.default):
                raise self._error(
                    path,
                    f"the default of field {field_.name!r} is not a valid {_describe(field_.schema)}",
                )
        return root

    def _error(self, path: str, reason: str) -> InvalidSchemaError:
        return InvalidSchemaError(f"invalid Avro {self._what} at {path or '/'}: {reason}")

    def _require(self, obj: dict[str, object], key: str, path: str) -> object:
        if key not in obj:
            raise self._error(path, f"a {obj.get('type')} needs {key!r}")
        return obj[key]

    def _optional_str(self, obj: dict[str, object], key: str, path: str) -> str | None:
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            raise self._error(f"{path}/{key}", f"{key!r} must be a string")
        return value

    def _parse(self, node: object, namespace: str | None, path: str) -> SchemaNode:
        if isinstance(node, str):
            return self._parse_reference(node, namespace, path)
        if isinstance(node, list):
            return self._parse_union(node, namespace, path)
        if isinstance(node, dict):
            return self._parse_object(node, namespace, path)
        raise self._error(path, f"expected a type name, an object or a union array, not {_json_kind(node)}")

    def _parse_reference(self, name: str, namespace: str | None, path: str) -> SchemaNode:
        if name in PRIMITIVE_TYPE_NAMES:
            return PrimitiveSchema(type=AvroType(name), props=MappingProxyType({}))
        named = self._lookup(name, namespace)
        if named is None:
            raise self._error(path, f"unknown type {name!r} (a named type must be defined before it is used)")
        return named

    def _lookup(self, name: str, namespace: str | None) -> SchemaNode | None:
        # Avro Java tries the enclosing namespace first, then the null namespace.
        if "." not in name and namespace:
            found = self._names.get(f"{namespace}.{name}")
            if found is not None:
                return _as_node(found)
        found = self._names.get(name)
        return _as_node(found) if found is not None else None

    def _parse_union(self, branches: list[object], namespace: str | None, path: str) -> UnionSchema:
        nodes: list[SchemaNode] = []
        seen: dict[str, int] = {}
        for index, branch in enumerate(branches):
            branch_path = f"{path}/{index}"
            if isinstance(branch, list):
                raise self._error(branch_path, "a union may not directly contain another union")
            node = self._parse(branch, namespace, branch_path)
            key = node.fullname if isinstance(node, NamedSchema) else node.type.value
            if key in seen:
                raise self._error(branch_path, f"{key!r} appears twice in the union (branches {seen[key]} and {index})")
            seen[key] = index
            nodes.append(node)
        return UnionSchema(branches=tuple(nodes))

    def _parse_object(self, obj: dict[str, object], namespace: str | None, path: str) -> SchemaNode:
        if "type" not in obj:
            raise self._error(path, "missing 'type'")
        type_name = obj["type"]
        if not isinstance(type_name, str):
            # Avro Java refuses this too; only a field's "type" may hold a nested schema.
            raise self._error(f"{path}/type", f"'type' must be a string, not {_json_kind(type_name)}")
        if type_name in PRIMITIVE_TYPE_NAMES:
            return PrimitiveSchema(type=AvroType(type_name), props=_props(obj, {"type"}))
        if type_name == "array":
            items = self._parse(self._require(obj, "items", path), namespace, f"{path}/items")
            return ArraySchema(items=items, props=_props(obj, {"type", "items"}))
        if type_name == "map":
            values = self._parse(self._require(obj, "values", path), namespace, f"{path}/values")
            return MapSchema(values=values, props=_props(obj, {"type", "values"}))
        if type_name in ("record", "enum", "fixed"):
            return self._parse_named(obj, type_name, namespace, path)
        # {"type": "SomeName"} refers to a named type; Avro Java allows it (for self-referencing unions).
        named = self._lookup(type_name, namespace)
        if named is None:
            raise self._error(f"{path}/type", f"unknown type {type_name!r}")
        return named

    def _parse_named(self, obj: dict[str, object], kind: str, namespace: str | None, path: str) -> SchemaNode:
        fullname = self._fullname(obj, namespace, path)
        own_namespace = fullname.rpartition(".")[0] or None
        aliases = self._aliases(obj.get("aliases"), own_namespace, f"{path}/aliases")
        doc = self._optional_str(obj, "doc", path)
        common = {"type", "name", "namespace", "doc", "aliases"}
        node: FixedSchema | EnumSchema | RecordSchema
        raw_fields: list[object] = []
        if kind == "fixed":
            size = self._require(obj, "size", path)
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise self._error(f"{path}/size", f"'size' must be a non-negative integer, not {size!r}")
            node = FixedSchema(
                fullname=fullname, aliases=aliases, doc=doc, props=_props(obj, common | {"size"}), size=size
            )
        elif kind == "enum":
            symbols = self._symbols(self._require(obj, "symbols", path), f"{path}/symbols")
            default = obj.get("default")
            if default is not None and default not in symbols:
                raise self._error(f"{path}/default", f"enum default {default!r} is not one of its symbols")
            node = EnumSchema(
                fullname=fullname,
                aliases=aliases,
                doc=doc,
                props=_props(obj, common | {"symbols", "default"}),
                symbols=symbols,
                default=default if isinstance(default, str) else None,
            )
        else:
            found = self._require(obj, "fields", path)
            if not isinstance(found, list):
                raise self._error(f"{path}/fields", "'fields' must be an array")
            raw_fields = found
            node = RecordSchema(fullname=fullname, aliases=aliases, doc=doc, props=_props(obj, common | {"fields"}))
        self._names[fullname] = node
        if isinstance(node, RecordSchema):
            fields = self._fields(raw_fields, own_namespace, f"{path}/fields")
            # The record had to exist (and be registered) before its fields could refer to it.
            object.__setattr__(node, "fields", fields)
        return node

    def _fullname(self, obj: dict[str, object], namespace: str | None, path: str) -> str:
        name = obj.get("name")
        if not isinstance(name, str) or not _is_dotted_name(name):
            raise self._error(f"{path}/name", f"a named type needs a valid 'name', not {name!r}")
        if "." in name:
            fullname = name
        else:
            # A JSON null namespace inherits, as in Avro Java; "" is the null namespace.
            space = obj.get("namespace")
            if space is None:
                space = namespace
            if not isinstance(space, str | None) or (space and not _is_dotted_name(space)):
                raise self._error(f"{path}/namespace", f"invalid namespace {space!r}")
            fullname = f"{space}.{name}" if space else name
        if fullname.rpartition(".")[2] in PRIMITIVE_TYPE_NAMES:
            raise self._error(f"{path}/name", f"{name!r} is a primitive type name and cannot name a type")
        if fullname in self._names:
            raise self._error(f"{path}/name", f"type {fullname!r} is defined twice")
        return fullname

    def _aliases(self, raw: object, namespace: str | None, path: str) -> frozenset[str]:
        if raw is None:
            return frozenset()
        if not isinstance(raw, list) or not all(isinstance(a, str) and _is_dotted_name(a) for a in raw):
            raise self._error(path, "'aliases' must be an array of names")
        return frozenset(a if "." in a or not namespace else f"{namespace}.{a}" for a in raw)

    def _symbols(self, raw: object, path: str) -> tuple[str, ...]:
        if not isinstance(raw, list):
            raise self._error(path, "'symbols' must be an array")
        for index, symbol in enumerate(raw):
            if not isinstance(symbol, str) or not NAME_PATTERN.fullmatch(symbol):
                raise self._error(f"{path}/{index}", f"invalid enum symbol {symbol!r}")
            if raw.index(symbol) != index:
                raise self._error(f"{path}/{index}", f"enum symbol {symbol!r} appears twice")
        return tuple(raw)

    def _fields(self, raw_fields: list[object], namespace: str | None, path: str) -> tuple[Field, ...]:
        fields: list[Field] = []
        for position, raw in enumerate(raw_fields):
            field_path = f"{path}/{position}"
            if not isinstance(raw, dict):
                raise self._error(field_path, "a field must be an object")
            name = raw.get("name")
            if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
                raise self._error(f"{field_path}/name", f"invalid field name {name!r}")
            if any(f.name == name for f in fields):
                raise self._error(f"{field_path}/name", f"field {name!r} is defined twice")
            if "type" not in raw:
                raise self._error(field_path, f"field {name!r} has no 'type'")
            schema = self._parse(raw["type"], namespace, f"{field_path}/type")
            order = raw.get("order", "ascending")
            if order not in FIELD_ORDERS:
                raise self._error(f"{field_path}/order", f"'order' must be one of {FIELD_ORDERS}, not {order!r}")
            aliases = raw.get("aliases", [])
            if not isinstance(aliases, list) or not all(
                isinstance(a, str) and NAME_PATTERN.fullmatch(a) for a in aliases
            ):
                raise self._error(f"{field_path}/aliases", "'aliases' must be an array of names")
            field_ = Field(
                name=name,
                schema=schema,
                position=position,
                has_default="default" in raw,
                default=_as_json(raw.get("default")),
                aliases=tuple(aliases),
                doc=self._optional_str(raw, "doc", field_path),
                order=order,
                props=_props(raw, {"name", "type", "default", "order", "aliases", "doc"}),
            )
            if field_.has_default:
                self._defaults.append((field_path, field_))
            fields.append(field_)
        return tuple(fields)


def _check_with_fastavro(schema: AvroSchema) -> None:
    # carebus serializes with fastavro, so a schema fastavro refuses (a decimal whose scale exceeds its
    # precision, say) cannot be used on the bus even if Avro Java would take it. The normalized form with
    # references written out is self-contained and keeps defaults and logical types.
    resolved = json.loads(_dump(_normalized_json(schema.root, set())))
    try:
        fastavro.schema.parse_schema(resolved)
    except fastavro.schema.UnknownType:
        # Every name has been resolved above. fastavro only fails where Avro Java falls back to the null
        # namespace (a type "T" in no namespace, used inside namespace "a"), and Java's reading is ours.
        pass
    except fastavro.schema.SchemaParseException as exc:
        raise InvalidSchemaError(f"invalid Avro schema: fastavro refuses it: {exc}") from exc


def _is_valid_default(schema: SchemaNode, value: JsonValue) -> bool:
    """Whether `value` is a valid JSON default for `schema` (the Avro specification's default values)."""
    match schema:
        case PrimitiveSchema(type=AvroType.NULL):
            return value is None
        case PrimitiveSchema(type=AvroType.BOOLEAN):
            return isinstance(value, bool)
        case PrimitiveSchema(type=AvroType.INT):
            return _is_int(value) and value in INT_RANGE
        case PrimitiveSchema(type=AvroType.LONG):
            return _is_int(value) and value in LONG_RANGE
        case PrimitiveSchema(type=AvroType.FLOAT | AvroType.DOUBLE):
            return _is_number(value) or value in NON_FINITE_FLOAT_DEFAULTS
        case PrimitiveSchema(type=AvroType.BYTES):
            return isinstance(value, str) and all(ord(c) < 256 for c in value)
        case PrimitiveSchema(type=AvroType.STRING):
            return isinstance(value, str)
        case FixedSchema(size=size):
            return isinstance(value, str) and len(value) == size and all(ord(c) < 256 for c in value)
        case EnumSchema(symbols=symbols):
            return isinstance(value, str) and value in symbols
        case ArraySchema(items=items):
            return isinstance(value, list) and all(_is_valid_default(items, v) for v in value)
        case MapSchema(values=values):
            return isinstance(value, dict) and all(_is_valid_default(values, v) for v in value.values())
        case RecordSchema(fields=fields):
            return isinstance(value, dict) and all(
                _is_valid_default(f.schema, value[f.name]) if f.name in value else f.has_default for f in fields
            )
        case UnionSchema(branches=branches):
            # The specification once said "the first branch"; Avro Java and fastavro accept any branch.
            return any(_is_valid_default(b, value) for b in branches)
    return False


def _canonical_json(node: SchemaNode, seen: set[str]) -> JsonValue:
    match node:
        case PrimitiveSchema():
            return node.type.value
        case UnionSchema():
            return [_canonical_json(b, seen) for b in node.branches]
        case ArraySchema():
            return {"type": "array", "items": _canonical_json(node.items, seen)}
        case MapSchema():
            return {"type": "map", "values": _canonical_json(node.values, seen)}
    if node.fullname in seen:
        return node.fullname
    seen.add(node.fullname)
    match node:
        case FixedSchema():
            return {"name": node.fullname, "type": "fixed", "size": node.size}
        case EnumSchema():
            return {"name": node.fullname, "type": "enum", "symbols": list(node.symbols)}
    fields: list[JsonValue] = [{"name": f.name, "type": _canonical_json(f.schema, seen)} for f in node.fields]
    return {"name": node.fullname, "type": "record", "fields": fields}


def _normalized_json(node: SchemaNode, seen: set[str], namespace: str | None = None) -> JsonValue:
    match node:
        case PrimitiveSchema():
            props = _normalized_props(node.props)
            return {"type": node.type.value, **props} if props else node.type.value
        case UnionSchema():
            return [_normalized_json(b, seen, namespace) for b in node.branches]
        case ArraySchema():
            items = _normalized_json(node.items, seen, namespace)
            return {"type": "array", "items": items, **_normalized_props(node.props)}
        case MapSchema():
            values = _normalized_json(node.values, seen, namespace)
            return {"type": "map", "values": values, **_normalized_props(node.props)}
    if node.fullname in seen:
        return node.fullname
    seen.add(node.fullname)
    extras: dict[str, JsonValue] = dict(node.props)
    if node.aliases:
        extras["aliases"] = list[JsonValue](sorted(node.aliases))
    if node.doc:
        extras["doc"] = node.doc
    if namespace and not node.namespace:
        # A full name cannot say "the null namespace"; without this the type would inherit `namespace`.
        extras["namespace"] = ""
    structural: dict[str, JsonValue]
    match node:
        case FixedSchema():
            structural = {"size": node.size}
        case EnumSchema():
            structural = {"symbols": list(node.symbols)}
            if node.default is not None:
                extras["default"] = node.default
        case RecordSchema():
            structural = {"fields": [_normalized_field(f, seen, node.namespace) for f in node.fields]}
    return {"name": node.fullname, "type": node.type.value, **structural, **_normalized_props(extras)}


def _normalized_field(field_: Field, seen: set[str], namespace: str | None) -> JsonValue:
    extras: dict[str, JsonValue] = dict(field_.props)
    if field_.aliases:
        extras["aliases"] = list[JsonValue](sorted(field_.aliases))
    if field_.doc:
        extras["doc"] = field_.doc
    if field_.has_default:
        extras["default"] = field_.default
    if field_.order != "ascending":
        extras["order"] = field_.order
    schema = _normalized_json(field_.schema, seen, namespace)
    return {"name": field_.name, "type": schema, **_normalized_props(extras)}


def _normalized_props(props: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
    props = dict(props)
    if props.get("logicalType") == "decimal" and _is_int(props.get("scale")) and props["scale"] == 0:
        del props["scale"]
    return {key: _sorted_json(props[key]) for key in sorted(props)}


def _sorted_json(value: JsonValue) -> JsonValue:
    if isinstance(value, dict):
        return {key: _sorted_json(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted_json(v) for v in value]
    return value


def _dump(value: JsonValue) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _describe(schema: SchemaNode) -> str:
    return schema.fullname if isinstance(schema, NamedSchema) else schema.type.value


def _as_node(named: NamedSchema) -> SchemaNode:
    if not isinstance(named, FixedSchema | EnumSchema | RecordSchema):
        raise TypeError(f"unexpected named node {named!r}")
    return named


def _as_json(value: object) -> JsonValue:
    # json.loads only produces JSON values; this narrows `object` for the type checker.
    return value  # type: ignore[return-value]


def _props(obj: dict[str, object], reserved: set[str]) -> Mapping[str, JsonValue]:
    return MappingProxyType({key: _as_json(value) for key, value in obj.items() if key not in reserved})


def _is_dotted_name(name: str) -> bool:
    return all(NAME_PATTERN.fullmatch(part) for part in name.split("."))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_kind(value: object) -> str:
    kinds = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array"}
    return "null" if value is None else kinds.get(type(value), "an object")


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")
