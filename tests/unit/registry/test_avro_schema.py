"""Parsing, validation, canonical and normalized forms, and fingerprints of Avro schemas."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import fastavro.schema
import pytest
from hypothesis import given, settings

from carebus.errors import InvalidSchemaError
from carebus.registry import avro_schema
from carebus.registry.avro_schema import (
    ArraySchema,
    AvroType,
    EnumSchema,
    FingerprintAlgorithm,
    FixedSchema,
    MapSchema,
    PrimitiveSchema,
    RecordSchema,
    UnionSchema,
    fingerprint,
    normalize,
    parse_schema,
    parsing_fingerprint,
    to_canonical_form,
)
from tests.unit.registry.avro_schema_strategies import avro_schemas


def public_names(module: ModuleType) -> set[str]:
    """Classes and functions a module defines whose names do not start with "_"."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == module.__name__
    }


def test_all_names_every_public_class_and_function() -> None:
    assert public_names(avro_schema) <= set(avro_schema.__all__)
    assert all(hasattr(avro_schema, name) for name in avro_schema.__all__)


def parse(schema: Any, **kwargs: Any) -> Any:
    return parse_schema(json.dumps(schema), **kwargs)


def record(name: str, *fields: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": list(fields), **extra}


LINKED_LIST = record(
    "LinkedList",
    {"name": "value", "type": "int"},
    {"name": "next", "type": ["null", "LinkedList"], "default": None},
    namespace="carebus.test",
)


class TestParse:
    def test_builds_typed_nodes(self) -> None:
        schema = parse(
            record(
                "Patient",
                {"name": "id", "type": "string"},
                {"name": "tags", "type": {"type": "array", "items": "string"}},
                {"name": "extras", "type": {"type": "map", "values": "long"}},
                {"name": "sex", "type": {"type": "enum", "name": "Sex", "symbols": ["F", "M", "U"], "default": "U"}},
                {"name": "hash", "type": {"type": "fixed", "name": "Md5", "size": 16}},
                {"name": "nickname", "type": ["null", "string"], "default": None},
                namespace="carebus.patient",
                doc="A patient.",
            )
        )
        root = schema.root
        assert isinstance(root, RecordSchema)
        assert (schema.name, root.name, root.namespace, root.doc) == (
            "carebus.patient.Patient",
            "Patient",
            "carebus.patient",
            "A patient.",
        )
        kinds = [type(f.schema) for f in root.fields]
        assert kinds == [PrimitiveSchema, ArraySchema, MapSchema, EnumSchema, FixedSchema, UnionSchema]
        sex = root.fields[3].schema
        assert isinstance(sex, EnumSchema)
        assert (sex.fullname, sex.symbols, sex.default) == ("carebus.patient.Sex", ("F", "M", "U"), "U")
        nickname = root.fields[5]
        assert nickname.has_default and nickname.default is None
        assert not root.fields[0].has_default

    def test_a_named_type_is_one_node_wherever_it_is_used(self) -> None:
        schema = parse(
            record(
                "Visit",
                {"name": "admitted", "type": {"type": "fixed", "name": "Stamp", "size": 8}},
                {"name": "discharged", "type": "Stamp"},
                {"name": "transferred", "type": {"type": "Stamp"}},
            )
        )
        root = schema.root
        assert isinstance(root, RecordSchema)
        assert root.fields[0].schema is root.fields[1].schema is root.fields[2].schema

    def test_a_recursive_record_points_back_at_itself(self) -> None:
        root = parse(LINKED_LIST).root
        assert isinstance(root, RecordSchema)
        next_type = root.fields[1].schema
        assert isinstance(next_type, UnionSchema)
        assert next_type.branches[1] is root

    @pytest.mark.parametrize(
        ("schema", "fullname"),
        [
            (record("R", namespace="a.b"), "a.b.R"),
            (record("x.y.R", namespace="ignored"), "x.y.R"),
            (record("R", namespace=""), "R"),
            (record("R"), "R"),
        ],
    )
    def test_full_names_follow_the_spec(self, schema: dict[str, Any], fullname: str) -> None:
        assert parse(schema).name == fullname

    def test_nested_types_inherit_the_enclosing_namespace(self) -> None:
        root = parse(
            record(
                "Outer",
                {"name": "e", "type": {"type": "enum", "name": "Inner", "symbols": ["A"]}},
                {"name": "f", "type": {"type": "enum", "name": "Other", "namespace": "", "symbols": ["A"]}},
                namespace="ns",
            )
        ).root
        assert isinstance(root, RecordSchema)
        assert [f.schema.fullname for f in root.fields] == ["ns.Inner", "Other"]  # type: ignore[union-attr]

    def test_a_short_name_falls_back_to_the_null_namespace(self) -> None:
        # Avro Java tries the enclosing namespace first, then no namespace.
        schema = [
            {"type": "fixed", "name": "Hash", "size": 4},
            record("R", {"name": "h", "type": "Hash"}, namespace="ns"),
        ]
        union = parse(schema).root
        assert isinstance(union, UnionSchema)
        inner = union.branches[1]
        assert isinstance(inner, RecordSchema)
        assert inner.fields[0].schema is union.branches[0]

    def test_aliases_are_resolved_to_full_names(self) -> None:
        root = parse(record("New", namespace="ns", aliases=["Old", "other.Older"])).root
        assert isinstance(root, RecordSchema)
        assert root.aliases == frozenset({"ns.Old", "other.Older"})

    def test_logical_types_stay_on_the_underlying_type(self) -> None:
        root = parse({"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}).root
        assert isinstance(root, PrimitiveSchema)
        assert (root.type, root.logical_type, root.props["precision"]) == (AvroType.BYTES, "decimal", 9)

    def test_references_provide_named_types(self) -> None:
        address = record("Address", {"name": "city", "type": "string"}, namespace="carebus.common")
        schema = parse(
            record("Patient", {"name": "home", "type": "carebus.common.Address"}),
            references={"carebus.common.Address": json.dumps(address)},
        )
        root = schema.root
        assert isinstance(root, RecordSchema)
        assert isinstance(root.fields[0].schema, RecordSchema)
        assert schema.referenced_names == frozenset({"carebus.common.Address"})


class TestInvalid:
    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            ('{"type": "record"', "not JSON (line 1, column 18)"),
            ('{"type": "record", "name": "R", "fields": [{"name": "a", "type": "float", "default": NaN}]}', "NaN"),
        ],
    )
    def test_text_that_is_not_json(self, text: str, reason: str) -> None:
        with pytest.raises(InvalidSchemaError, match="not JSON") as caught:
            parse_schema(text)
        assert reason in str(caught.value)
        assert isinstance(caught.value.__cause__, ValueError)

    @pytest.mark.parametrize(
        ("schema", "where", "reason"),
        [
            (42, "/", "not a number"),
            ({"name": "R"}, "/", "missing 'type'"),
            ({"type": {"type": "int"}}, "/type", "'type' must be a string"),
            ("Nope", "/", "unknown type 'Nope'"),
            (record("R", {"name": "a", "type": "Later"}), "/fields/0/type", "unknown type 'Later'"),
            ({"type": "whatever"}, "/type", "unknown type 'whatever'"),
            ({"type": "array"}, "/", "needs 'items'"),
            ({"type": "map"}, "/", "needs 'values'"),
            ({"type": "record", "name": "R"}, "/", "needs 'fields'"),
            ({"type": "record", "name": "R", "fields": {}}, "/fields", "'fields' must be an array"),
            (record("1R"), "/name", "valid 'name'"),
            (record("a..R"), "/name", "valid 'name'"),
            (record("R", namespace="bad-ns"), "/namespace", "invalid namespace"),
            (record("int"), "/name", "primitive type name"),
            (record("R", aliases=["no good"]), "/aliases", "array of names"),
            (record("R", {"name": "a-b", "type": "int"}), "/fields/0/name", "invalid field name"),
            (record("R", {"name": "a"}), "/fields/0", "has no 'type'"),
            (record("R", {"name": "a", "type": "int"}, {"name": "a", "type": "long"}), "/fields/1/name", "twice"),
            (record("R", {"name": "a", "type": "int", "order": "up"}), "/fields/0/order", "'order'"),
            (record("R", {"name": "a", "type": "int", "aliases": "b"}), "/fields/0/aliases", "array of names"),
            (record("R", doc=5), "/doc", "must be a string"),
            ([record("R"), record("R")], "/1/name", "defined twice"),
            ({"type": "enum", "name": "E", "symbols": ["A", "A"]}, "/symbols/1", "appears twice"),
            ({"type": "enum", "name": "E", "symbols": ["1A"]}, "/symbols/0", "invalid enum symbol"),
            ({"type": "enum", "name": "E", "symbols": "A"}, "/symbols", "must be an array"),
            ({"type": "enum", "name": "E", "symbols": ["A"], "default": "B"}, "/default", "not one of its symbols"),
            ({"type": "fixed", "name": "F", "size": -1}, "/size", "non-negative integer"),
            ({"type": "fixed", "name": "F", "size": "16"}, "/size", "non-negative integer"),
            ({"type": "fixed", "name": "F", "size": True}, "/size", "non-negative integer"),
            (["int", ["null"]], "/1", "may not directly contain another union"),
            (["int", "string", "int"], "/2", "'int' appears twice in the union (branches 0 and 2)"),
            (
                [{"type": "array", "items": "int"}, {"type": "array", "items": "long"}],
                "/1",
                "'array' appears twice",
            ),
            (["null", record("R"), "R"], "/2", "'R' appears twice"),
        ],
    )
    def test_structural_errors_name_the_place_and_the_reason(self, schema: Any, where: str, reason: str) -> None:
        with pytest.raises(InvalidSchemaError) as caught:
            parse(schema)
        message = str(caught.value)
        assert message.startswith(f"invalid Avro schema at {where}: "), message
        assert reason in message

    @pytest.mark.parametrize(
        ("field_type", "default"),
        [
            ("int", "seven"),
            ("int", 2**31),
            ("int", True),
            ("long", 1.5),
            ("boolean", 0),
            ("null", 0),
            ("string", None),
            ("bytes", "\u0100"),
            ("float", "1.5"),
            ({"type": "fixed", "name": "F", "size": 2}, "abc"),
            ({"type": "enum", "name": "E", "symbols": ["A"]}, "B"),
            ({"type": "array", "items": "int"}, ["x"]),
            ({"type": "map", "values": "int"}, {"k": "v"}),
            (record("Inner", {"name": "x", "type": "int"}), {}),
            (["null", "int"], "x"),
        ],
    )
    def test_a_default_must_fit_its_field(self, field_type: Any, default: Any) -> None:
        with pytest.raises(InvalidSchemaError, match=r"at /fields/0: the default of field 'a' is not a valid"):
            parse(record("R", {"name": "a", "type": field_type, "default": default}))

    @pytest.mark.parametrize(
        ("field_type", "default"),
        [
            ("float", "NaN"),
            ("double", 3),
            ("bytes", "\u00ff"),
            (["null", "int"], 4),  # any branch, as Avro Java and fastavro accept
            (record("Inner", {"name": "x", "type": "int", "default": 1}), {}),
            (LINKED_LIST, {"value": 1, "next": {"value": 2, "next": None}}),
        ],
    )
    def test_valid_defaults_are_accepted(self, field_type: Any, default: Any) -> None:
        parse(record("R", {"name": "a", "type": field_type, "default": default}))

    def test_what_fastavro_refuses_is_refused_and_chained(self) -> None:
        with pytest.raises(InvalidSchemaError, match="fastavro refuses it: decimal scale") as caught:
            parse({"type": "bytes", "logicalType": "decimal", "precision": 2, "scale": 5})
        assert isinstance(caught.value.__cause__, fastavro.schema.SchemaParseException)

    def test_an_invalid_reference_is_named(self) -> None:
        with pytest.raises(InvalidSchemaError, match=r"invalid Avro reference 'common\.Address' at /: missing"):
            parse("int", references={"common.Address": "{}"})

    def test_an_unknown_reference_is_an_unknown_type(self) -> None:
        with pytest.raises(InvalidSchemaError, match=r"unknown type 'common\.Address'"):
            parse(record("R", {"name": "a", "type": "common.Address"}))


class TestCanonicalForm:
    @pytest.mark.parametrize(
        ("schema", "expected"),
        [
            ({"type": "int"}, '"int"'),
            ({"type": "long", "logicalType": "timestamp-millis"}, '"long"'),
            (
                record(
                    "R",
                    {"name": "a", "type": "int", "default": 1, "doc": "x", "aliases": ["b"], "order": "ignore"},
                    namespace="ns",
                    doc="strip me",
                    aliases=["Old"],
                    custom={"k": 1},
                ),
                '{"name":"ns.R","type":"record","fields":[{"name":"a","type":"int"}]}',
            ),
            (
                {"type": "enum", "name": "E", "symbols": ["A", "B"], "default": "A"},
                '{"name":"E","type":"enum","symbols":["A","B"]}',
            ),
            (
                {"type": "fixed", "size": 16, "name": "F", "logicalType": "decimal", "precision": 4},
                '{"name":"F","type":"fixed","size":16}',
            ),
            (
                {"values": {"type": "array", "items": "int"}, "type": "map"},
                '{"type":"map","values":{"type":"array","items":"int"}}',
            ),
            (["null", {"type": "string"}], '["null","string"]'),
        ],
    )
    def test_follows_the_specification(self, schema: Any, expected: str) -> None:
        assert to_canonical_form(parse(schema)) == expected

    def test_later_uses_of_a_named_type_are_its_full_name(self) -> None:
        assert to_canonical_form(parse(LINKED_LIST)) == (
            '{"name":"carebus.test.LinkedList","type":"record","fields":[{"name":"value","type":"int"},'
            '{"name":"next","type":["null","carebus.test.LinkedList"]}]}'
        )

    def test_references_are_written_out(self) -> None:
        address = record("Address", {"name": "city", "type": "string"})
        schema = parse(record("P", {"name": "home", "type": "Address"}), references={"Address": json.dumps(address)})
        assert to_canonical_form(schema) == (
            '{"name":"P","type":"record","fields":[{"name":"home","type":'
            '{"name":"Address","type":"record","fields":[{"name":"city","type":"string"}]}}]}'
        )

    @settings(max_examples=150, deadline=None)
    @given(avro_schemas())
    def test_matches_fastavro(self, schema: Any) -> None:
        try:
            expected = fastavro.schema.to_parsing_canonical_form(schema)
        except fastavro.schema.UnknownType:
            return  # fastavro cannot resolve a null-namespace name used inside a namespace; Java can
        assert to_canonical_form(parse(schema)) == expected


class TestNormalize:
    @pytest.mark.parametrize(
        ("left", "right"),
        [
            ('{"type": "int"}', '"int"'),
            (
                '{"type":"record","name":"R","namespace":"ns","fields":[{"name":"a","type":"int"}]}',
                '{ "fields" : [ { "type" : "int", "name" : "a" } ], "name" : "ns.R", "type" : "record" }',
            ),
            (
                json.dumps(record("R", {"name": "a", "type": "int", "order": "ascending"})),
                json.dumps(record("R", {"name": "a", "type": "int"})),
            ),
            (
                json.dumps(record("R", aliases=["B", "A"], namespace="n")),
                json.dumps(record("n.R", aliases=["n.A", "n.B"])),
            ),
            (json.dumps(record("R", doc="")), json.dumps(record("R"))),
            (
                json.dumps({"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 0}),
                json.dumps({"precision": 4, "logicalType": "decimal", "type": "bytes"}),
            ),
            (
                json.dumps(
                    record("R", {"name": "m", "type": {"type": "map", "values": "int"}, "default": {"b": 1, "a": 2}})
                ),
                json.dumps(
                    record("R", {"name": "m", "type": {"type": "map", "values": "int"}, "default": {"a": 2, "b": 1}})
                ),
            ),
            (
                json.dumps([record("R"), {"type": "array", "items": {"type": "R", "x-note": "dropped"}}]),
                json.dumps([record("R"), {"type": "array", "items": "R"}]),
            ),
        ],
    )
    def test_same_meaning_same_text(self, left: str, right: str) -> None:
        assert normalize(parse_schema(left)) == normalize(parse_schema(right))
        assert fingerprint(parse_schema(left)) == fingerprint(parse_schema(right))

    @pytest.mark.parametrize(
        ("left", "right"),
        [
            (record("R", {"name": "a", "type": "int"}), record("R", {"name": "a", "type": "int", "default": 0})),
            (
                record("R", {"name": "a", "type": "int", "default": 0}),
                record("R", {"name": "a", "type": "int", "default": 1}),
            ),
            (record("R", {"name": "a", "type": "int"}), record("R", {"name": "a", "type": "int", "aliases": ["b"]})),
            (
                record("R", {"name": "a", "type": "int"}, {"name": "b", "type": "int"}),
                record("R", {"name": "b", "type": "int"}, {"name": "a", "type": "int"}),
            ),
            (["null", "int"], ["int", "null"]),
            (
                {"type": "enum", "name": "E", "symbols": ["A", "B"]},
                {"type": "enum", "name": "E", "symbols": ["B", "A"]},
            ),
            ({"type": "int", "logicalType": "date"}, "int"),
            (record("R", doc="one"), record("R", doc="two")),
            (record("R", namespace="a"), record("R", namespace="b")),
        ],
    )
    def test_different_meaning_different_text(self, left: Any, right: Any) -> None:
        assert normalize(parse(left)) != normalize(parse(right))
        assert fingerprint(parse(left)) != fingerprint(parse(right))

    def test_key_order_and_spelling(self) -> None:
        schema = record(
            "Visit",
            {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["IN", "OUT"], "default": "IN"}},
            {
                "name": "when",
                "type": {"type": "long", "logicalType": "timestamp-millis"},
                "doc": "d",
                "order": "descending",
            },
            namespace="carebus",
            aliases=["Encounter"],
            doc="A visit. \u00e9",
        )
        assert normalize(parse(schema)) == (
            '{"name":"carebus.Visit","type":"record","fields":['
            '{"name":"kind","type":{"name":"carebus.Kind","type":"enum","symbols":["IN","OUT"],"default":"IN"}},'
            '{"name":"when","type":{"type":"long","logicalType":"timestamp-millis"},"doc":"d","order":"descending"}'
            '],"aliases":["carebus.Encounter"],"doc":"A visit. \u00e9"}'
        )

    def test_a_type_in_no_namespace_keeps_it_inside_a_namespaced_one(self) -> None:
        schema = parse(
            record(
                "R",
                {"name": "e", "type": {"type": "enum", "name": "E", "namespace": "", "symbols": ["A"]}},
                namespace="ns",
            )
        )
        normalized = normalize(schema)
        assert '"name":"E","type":"enum","symbols":["A"],"namespace":""' in normalized
        again = parse_schema(normalized).root
        assert isinstance(again, RecordSchema)
        assert again.fields[0].schema.fullname == "E"  # type: ignore[union-attr]

    def test_references_stay_references(self) -> None:
        address = record("Address", {"name": "city", "type": "string"}, namespace="common")
        references = {"common.Address": json.dumps(address)}
        schema = parse(record("P", {"name": "home", "type": "common.Address"}), references=references)
        assert normalize(schema) == '{"name":"P","type":"record","fields":[{"name":"home","type":"common.Address"}]}'

    @settings(max_examples=150, deadline=None)
    @given(avro_schemas())
    def test_is_idempotent_and_keeps_the_wire_format(self, schema: Any) -> None:
        parsed = parse(schema)
        again = parse_schema(normalize(parsed))
        assert normalize(again) == normalize(parsed)
        assert to_canonical_form(again) == to_canonical_form(parsed)
        assert fingerprint(again) == fingerprint(parsed)


class TestFingerprint:
    def test_covers_what_references_contain(self) -> None:
        def with_address(city_type: str) -> Any:
            address = record("Address", {"name": "city", "type": city_type})
            return parse(record("P", {"name": "home", "type": "Address"}), references={"Address": json.dumps(address)})

        assert normalize(with_address("string")) == normalize(with_address("bytes"))
        assert fingerprint(with_address("string")) != fingerprint(with_address("bytes"))

    def test_is_hex_sha256(self) -> None:
        value = fingerprint(parse("int"))
        assert len(value) == 64
        assert int(value, 16) >= 0

    @pytest.mark.parametrize(
        ("algorithm", "fastavro_name"),
        [
            (FingerprintAlgorithm.SHA256, "SHA-256"),
            (FingerprintAlgorithm.MD5, "MD5"),
            (FingerprintAlgorithm.CRC64_AVRO, "CRC-64-AVRO"),
        ],
    )
    @pytest.mark.parametrize("schema", ["int", LINKED_LIST, ["null", {"type": "map", "values": "bytes"}]])
    def test_parsing_fingerprint_matches_fastavro(
        self, algorithm: FingerprintAlgorithm, fastavro_name: str, schema: Any
    ) -> None:
        canonical = fastavro.schema.to_parsing_canonical_form(schema)
        assert parsing_fingerprint(parse(schema), algorithm) == fastavro.schema.fingerprint(canonical, fastavro_name)

    def test_parsing_fingerprint_of_int_is_the_specs(self) -> None:
        # CRC-64-AVRO("int") = 0x7275d51a3f395c8f, written little-endian.
        assert parsing_fingerprint(parse("int"), FingerprintAlgorithm.CRC64_AVRO) == "8f5c393f1ad57572"

    def test_parsing_fingerprint_ignores_defaults_but_fingerprint_does_not(self) -> None:
        plain = parse(record("R", {"name": "a", "type": "int"}))
        defaulted = parse(record("R", {"name": "a", "type": "int", "default": 0}))
        assert parsing_fingerprint(plain) == parsing_fingerprint(defaulted)
        assert fingerprint(plain) != fingerprint(defaulted)
