"""Can one Avro schema read what another wrote? Decided the way Confluent Schema Registry decides it.

The registry delegates to Apache Avro Java's `org.apache.avro.SchemaCompatibility`; `check_reader_writer`
follows that class rule for rule, including its incompatibility types, its messages (`reader type: INT not
compatible with writer type: STRING`) and its locations (JSON pointers into the reader schema, such as
`/fields/2/type`). In short, the reader can read the writer's data when:

- the types are equal, or the writer's promotes to the reader's: int to long, float or double; long to float
  or double; float to double; string to bytes and bytes to string. Logical types are ignored: only the
  underlying type counts, so a decimal's precision and scale are never compared;
- named types (record, enum, fixed) have the same unqualified name, or the reader lists the writer's full
  name among its aliases; fixed types have the same size;
- the reader's enum has every writer symbol, unless the reader's enum has a default;
- every reader field is found in the writer (by name, or by one of the reader field's aliases) with a
  readable type, or has a default;
- a writer union: the reader can read every branch. A reader union: some branch can read the writer.

Recursive types terminate because a pair already being checked counts as compatible until proven
otherwise. Quirks of the Java kept on purpose, so that carebus reports what Confluent would:

- results are memoized per (reader, writer) node pair, so a named type used twice reports its
  incompatibilities twice, both times at the location of its first use;
- a reader field missing from the writer, with no default but whose enum type has a default, is compared
  with the whole writer record and so reports TYPE_MISMATCH (ENUM vs RECORD);
- a reader field matching two writer fields (one by name, one by alias) is an error, not an
  incompatibility: `check_reader_writer` raises `SchemaError`, and `check_compatibility` reports it the
  way Confluent does ("Unexpected exception during compatibility check: ...").

`check_compatibility` applies a subject's compatibility level with Confluent's semantics and message format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from carebus.errors import SchemaError
from carebus.registry.avro_schema import (
    ArraySchema,
    AvroSchema,
    AvroType,
    EnumSchema,
    Field,
    FixedSchema,
    MapSchema,
    RecordSchema,
    SchemaNode,
    UnionSchema,
    normalize,
)

__all__ = [
    "CompatibilityLevel",
    "Incompatibility",
    "IncompatibilityType",
    "check_compatibility",
    "check_reader_writer",
]

# Which writer types each reader type accepts besides its own (the specification's "promotions").
PROMOTIONS: dict[AvroType, frozenset[AvroType]] = {
    AvroType.LONG: frozenset({AvroType.INT}),
    AvroType.FLOAT: frozenset({AvroType.INT, AvroType.LONG}),
    AvroType.DOUBLE: frozenset({AvroType.INT, AvroType.LONG, AvroType.FLOAT}),
    AvroType.BYTES: frozenset({AvroType.STRING}),
    AvroType.STRING: frozenset({AvroType.BYTES}),
}
NEW_LABEL = "new"
OLD_LABEL = "old"
UNEXPECTED_ERROR_PREFIX = "Unexpected exception during compatibility check: "


class CompatibilityLevel(StrEnum):
    """A subject's compatibility level, spelled as in the Confluent REST API."""

    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"

    @property
    def transitive(self) -> bool:
        return self.endswith("_TRANSITIVE")


class IncompatibilityType(StrEnum):
    """Avro Java's `SchemaCompatibility.SchemaIncompatibilityType`."""

    NAME_MISMATCH = "NAME_MISMATCH"
    FIXED_SIZE_MISMATCH = "FIXED_SIZE_MISMATCH"
    MISSING_ENUM_SYMBOLS = "MISSING_ENUM_SYMBOLS"
    READER_FIELD_MISSING_DEFAULT_VALUE = "READER_FIELD_MISSING_DEFAULT_VALUE"
    TYPE_MISMATCH = "TYPE_MISMATCH"
    MISSING_UNION_BRANCH = "MISSING_UNION_BRANCH"


@dataclass(frozen=True)
class Incompatibility:
    """One reason the reader cannot read the writer's data.

    `location` is a JSON pointer into the reader schema ("/" for the root). `message` is Avro Java's detail
    text: the field name for READER_FIELD_MISSING_DEFAULT_VALUE, the missing symbols for
    MISSING_ENUM_SYMBOLS, and so on. The fragments are the reader and writer nodes that disagree; they take no
    part in equality.
    """

    type: IncompatibilityType
    location: str
    message: str
    reader_fragment: SchemaNode = field(compare=False, repr=False)
    writer_fragment: SchemaNode = field(compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.type} at {self.location}: {self.message}"


def check_reader_writer(reader: AvroSchema, writer: AvroSchema) -> list[Incompatibility]:
    """Why `reader` cannot read data written with `writer`; an empty list means it can.

    Raises `SchemaError` when a reader field matches two writer fields (by name and by alias), which Avro
    Java treats as an error rather than an incompatibility.
    """
    return list(_Checker().check(reader.root, writer.root))


def check_compatibility(
    new_schema: AvroSchema, existing_schemas: Sequence[AvroSchema], level: CompatibilityLevel
) -> list[str]:
    """Confluent's verdict on registering `new_schema` after `existing_schemas` (oldest first) at `level`.

    An empty list means compatible. BACKWARD: the new schema reads the latest. FORWARD: the latest reads the
    new one. FULL: both. The *_TRANSITIVE levels check every existing version, newest first, and stop at the
    first that fails. NONE accepts anything. Messages are Confluent's, e.g. `{errorType:'TYPE_MISMATCH',
    description:'...', additionalInfo:'...'}`, followed by `{oldSchema: '...'}` naming the version checked.
    """
    if level is CompatibilityLevel.NONE:
        return []
    newest_first = list(reversed(existing_schemas))
    for existing in newest_first if level.transitive else newest_first[:1]:
        messages = _check_against(new_schema, existing, level)
        if messages:
            return messages
    return []


def _check_against(new: AvroSchema, existing: AvroSchema, level: CompatibilityLevel) -> list[str]:
    if level in (CompatibilityLevel.BACKWARD, CompatibilityLevel.BACKWARD_TRANSITIVE):
        return _with_old_schema(_describe(reader=new, writer=existing, labels=(NEW_LABEL, OLD_LABEL)), existing)
    if level in (CompatibilityLevel.FORWARD, CompatibilityLevel.FORWARD_TRANSITIVE):
        return _with_old_schema(_describe(reader=existing, writer=new, labels=(OLD_LABEL, NEW_LABEL)), existing)
    # Confluent appends the old schema only after the backward half, and only when that half failed.
    forward = _describe(reader=existing, writer=new, labels=(OLD_LABEL, NEW_LABEL))
    backward = _describe(reader=new, writer=existing, labels=(NEW_LABEL, OLD_LABEL))
    return forward + _with_old_schema(backward, existing)


def _describe(*, reader: AvroSchema, writer: AvroSchema, labels: tuple[str, str]) -> list[str]:
    try:
        incompatibilities = check_reader_writer(reader, writer)
    except SchemaError as exc:
        return [f"{UNEXPECTED_ERROR_PREFIX}{exc}"]
    return [_confluent_message(i, reader_label=labels[0], writer_label=labels[1]) for i in incompatibilities]


def _with_old_schema(messages: list[str], existing: AvroSchema) -> list[str]:
    return [*messages, f"{{oldSchema: '{normalize(existing)}'}}"] if messages else messages


def _confluent_message(incompatibility: Incompatibility, *, reader_label: str, writer_label: str) -> str:
    """Confluent's `Difference` text: which schema ("new"/"old") lacks what, and where."""
    path, info = incompatibility.location, incompatibility.message
    r, w = reader_label, writer_label
    descriptions = {
        IncompatibilityType.FIXED_SIZE_MISMATCH: (
            f"The size of FIXED type field at path '{path}' in the {r} schema does not match with the {w} schema"
        ),
        IncompatibilityType.TYPE_MISMATCH: (
            f"The type (path '{path}') of a field in the {r} schema does not match with the {w} schema"
        ),
        IncompatibilityType.NAME_MISMATCH: f"The name of the schema has changed (path '{path}')",
        IncompatibilityType.MISSING_ENUM_SYMBOLS: (
            f"The {r} schema is missing enum symbols '{info}' at path '{path}' in the {w} schema"
        ),
        IncompatibilityType.MISSING_UNION_BRANCH: (
            f"The {r} schema is missing a type inside a union field at path '{path}' in the {w} schema"
        ),
        IncompatibilityType.READER_FIELD_MISSING_DEFAULT_VALUE: (
            f"The field '{info}' at path '{path}' in the {r} schema has no default value"
            f" and is missing in the {w} schema"
        ),
    }
    description = descriptions[incompatibility.type]
    return f"{{errorType:'{incompatibility.type}', description:'{description}', additionalInfo:'{info}'}}"


_Result = tuple[Incompatibility, ...]
_Named = FixedSchema | EnumSchema | RecordSchema


class _Checker:
    """One reader/writer comparison: Avro Java's `ReaderWriterCompatibilityChecker`.

    `location` is the stack of JSON pointer tokens from the root (whose token is ""). The memo maps a
    (reader, writer) pair of node identities to its result, or to None while that pair is being checked.
    """

    def __init__(self) -> None:
        self._memo: dict[tuple[int, int], _Result | None] = {}

    def check(self, reader: SchemaNode, writer: SchemaNode) -> _Result:
        # Java starts a fresh location stack here, also when it checks union branches; their results
        # only decide compatibility, and a MISSING_UNION_BRANCH carries the caller's location instead.
        return self._check("", reader, writer, [])

    def _check(self, token: str, reader: SchemaNode, writer: SchemaNode, location: list[str]) -> _Result:
        location.append(token)
        key = (id(reader), id(writer))
        if key in self._memo:
            # A pair still in progress is recursion: assume compatible; the outer check finds any problem.
            result = self._memo[key] or ()
        else:
            self._memo[key] = None
            result = self._calculate(reader, writer, location)
            self._memo[key] = result
        location.pop()
        return result

    def _calculate(self, reader: SchemaNode, writer: SchemaNode, location: list[str]) -> _Result:
        if isinstance(reader, UnionSchema) and isinstance(writer, UnionSchema):
            return self._check_writer_union_branches(reader, writer, location)
        if isinstance(writer, UnionSchema):
            return tuple(
                incompatibility
                for index, branch in enumerate(writer.branches)
                for incompatibility in self._check(str(index), reader, branch, location)
            )
        if isinstance(reader, UnionSchema):
            if any(not self.check(branch, writer) for branch in reader.branches):
                return ()
            message = f"reader union lacking writer type: {writer.type.name}"
            return (_incompatible(IncompatibilityType.MISSING_UNION_BRANCH, reader, writer, message, location),)
        if reader.type is not writer.type:
            if writer.type in PROMOTIONS.get(reader.type, frozenset()):
                return ()
            return (_type_mismatch(reader, writer, location),)
        if isinstance(reader, ArraySchema) and isinstance(writer, ArraySchema):
            return self._check("items", reader.items, writer.items, location)
        if isinstance(reader, MapSchema) and isinstance(writer, MapSchema):
            return self._check("values", reader.values, writer.values, location)
        if isinstance(reader, FixedSchema) and isinstance(writer, FixedSchema):
            return _check_names(reader, writer, location) + _check_fixed_size(reader, writer, location)
        if isinstance(reader, EnumSchema) and isinstance(writer, EnumSchema):
            return _check_names(reader, writer, location) + _check_enum_symbols(reader, writer, location)
        if isinstance(reader, RecordSchema) and isinstance(writer, RecordSchema):
            return _check_names(reader, writer, location) + self._check_fields(reader, writer, location)
        return ()  # equal primitive types

    def _check_writer_union_branches(self, reader: UnionSchema, writer: UnionSchema, location: list[str]) -> _Result:
        result: _Result = ()
        for index, branch in enumerate(writer.branches):
            location.append(str(index))
            if self.check(reader, branch):
                message = f"reader union lacking writer type: {branch.type.name}"
                result += (_incompatible(IncompatibilityType.MISSING_UNION_BRANCH, reader, writer, message, location),)
            location.pop()
        return result

    def _check_fields(self, reader: RecordSchema, writer: RecordSchema, location: list[str]) -> _Result:
        result: _Result = ()
        location.append("fields")
        for reader_field in reader.fields:
            location.append(str(reader_field.position))
            writer_field = _lookup_writer_field(writer, reader_field, location)
            if writer_field is not None:
                result += self._check("type", reader_field.schema, writer_field.schema, location)
            elif reader_field.has_default:
                pass
            elif isinstance(reader_field.schema, EnumSchema) and reader_field.schema.default is not None:
                # Java compares the enum with the writer *record* here, which can only be a TYPE_MISMATCH;
                # kept so that the reported type matches Confluent's.
                result += self._check("type", reader_field.schema, writer, location)
            else:
                result += (
                    _incompatible(
                        IncompatibilityType.READER_FIELD_MISSING_DEFAULT_VALUE,
                        reader,
                        writer,
                        reader_field.name,
                        location,
                    ),
                )
            location.pop()
        location.pop()
        return result


def _lookup_writer_field(writer: RecordSchema, reader_field: Field, location: list[str]) -> Field | None:
    candidates = [
        found for name in (reader_field.name, *reader_field.aliases) if (found := writer.field_named(name)) is not None
    ]
    if len(candidates) > 1:
        names = ", ".join(repr(c.name) for c in candidates)
        raise SchemaError(
            f"reader field {reader_field.name!r} at {_pointer(location)} matches {len(candidates)} fields"
            f" of writer record {writer.fullname!r} by name and aliases: {names}"
        )
    return candidates[0] if candidates else None


def _check_names(reader: _Named, writer: _Named, location: list[str]) -> _Result:
    if reader.name == writer.name or writer.fullname in reader.aliases:
        return ()
    message = f"expected: {writer.fullname}"
    kind = IncompatibilityType.NAME_MISMATCH
    return (_incompatible(kind, reader, writer, message, [*location, "name"]),)


def _check_fixed_size(reader: FixedSchema, writer: FixedSchema, location: list[str]) -> _Result:
    if reader.size == writer.size:
        return ()
    message = f"expected: {writer.size}, found: {reader.size}"
    kind = IncompatibilityType.FIXED_SIZE_MISMATCH
    return (_incompatible(kind, reader, writer, message, [*location, "size"]),)


def _check_enum_symbols(reader: EnumSchema, writer: EnumSchema, location: list[str]) -> _Result:
    missing = sorted(set(writer.symbols) - set(reader.symbols))
    if not missing or (reader.default is not None and reader.default in reader.symbols):
        return ()
    # Java prints a TreeSet: sorted, "[A, B]".
    message = "[" + ", ".join(missing) + "]"
    kind = IncompatibilityType.MISSING_ENUM_SYMBOLS
    return (_incompatible(kind, reader, writer, message, [*location, "symbols"]),)


def _type_mismatch(reader: SchemaNode, writer: SchemaNode, location: list[str]) -> Incompatibility:
    message = f"reader type: {reader.type.name} not compatible with writer type: {writer.type.name}"
    return _incompatible(IncompatibilityType.TYPE_MISMATCH, reader, writer, message, location)


def _incompatible(
    kind: IncompatibilityType, reader: SchemaNode, writer: SchemaNode, message: str, location: list[str]
) -> Incompatibility:
    return Incompatibility(kind, _pointer(location), message, reader, writer)


def _pointer(location: list[str]) -> str:
    # The root's token is not part of the pointer, so the root itself is "/".
    tokens = (token.replace("~", "~0").replace("/", "~1") for token in location[1:])
    return "/" + "/".join(tokens)
