"""Reader/writer compatibility (Avro Java's rules) and subject compatibility levels (Confluent's).

Expected types, messages and locations are the ones Avro Java's own SchemaCompatibility tests expect. Each
rule is checked both ways round: swapping reader and writer gives the asymmetric answer.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings

from carebus.errors import SchemaError
from carebus.registry import compatibility
from carebus.registry.avro_schema import AvroSchema, RecordSchema, normalize, parse_schema
from carebus.registry.compatibility import (
    CompatibilityLevel,
    Incompatibility,
    IncompatibilityType,
    check_compatibility,
    check_reader_writer,
)
from tests.unit.registry.avro_schema_strategies import avro_schemas
from tests.unit.registry.test_avro_schema import public_names

PRIMITIVES = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]
# (reader, writer) pairs that read although the types differ.
PROMOTIONS = {
    ("long", "int"),
    ("float", "int"),
    ("float", "long"),
    ("double", "int"),
    ("double", "long"),
    ("double", "float"),
    ("bytes", "string"),
    ("string", "bytes"),
}

Problem = tuple[str, str, str]


def test_all_names_every_public_class_and_function() -> None:
    assert public_names(compatibility) == set(compatibility.__all__)


def parse(schema: Any) -> AvroSchema:
    return parse_schema(json.dumps(schema))


def check(reader: Any, writer: Any) -> list[Problem]:
    """(type, location, message) for each reason `reader` cannot read `writer`'s data."""
    return [(str(i.type), i.location, i.message) for i in check_reader_writer(parse(reader), parse(writer))]


def record(name: str, *fields: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": list(fields), **extra}


def enum(name: str, *symbols: str, **extra: Any) -> dict[str, Any]:
    return {"type": "enum", "name": name, "symbols": list(symbols), **extra}


def fixed(name: str, size: int, **extra: Any) -> dict[str, Any]:
    return {"type": "fixed", "name": name, "size": size, **extra}


def mismatch(reader: str, writer: str, location: str = "/") -> Problem:
    message = f"reader type: {reader.upper()} not compatible with writer type: {writer.upper()}"
    return ("TYPE_MISMATCH", location, message)


def missing_branch(writer_type: str, location: str) -> Problem:
    return ("MISSING_UNION_BRANCH", location, f"reader union lacking writer type: {writer_type.upper()}")


class TestPrimitives:
    @pytest.mark.parametrize("writer", PRIMITIVES)
    @pytest.mark.parametrize("reader", PRIMITIVES)
    def test_equal_types_and_promotions_read(self, reader: str, writer: str) -> None:
        readable = reader == writer or (reader, writer) in PROMOTIONS
        assert check(reader, writer) == ([] if readable else [mismatch(reader, writer)])

    def test_promotion_is_one_way(self) -> None:
        assert check("long", "int") == []
        assert check("int", "long") == [mismatch("int", "long")]
        assert check("double", "float") == []
        assert check("float", "double") == [mismatch("float", "double")]

    def test_string_and_bytes_read_each_other(self) -> None:
        assert check("string", "bytes") == check("bytes", "string") == []


class TestComplexTypeMismatch:
    @pytest.mark.parametrize(
        ("reader", "writer", "problem"),
        [
            ({"type": "map", "values": "int"}, {"type": "array", "items": "int"}, mismatch("map", "array")),
            ({"type": "array", "items": "int"}, {"type": "map", "values": "int"}, mismatch("array", "map")),
            (record("R"), "int", mismatch("record", "int")),
            ("int", record("R"), mismatch("int", "record")),
            (enum("E", "A"), "string", mismatch("enum", "string")),
            ("string", enum("E", "A"), mismatch("string", "enum")),
            (fixed("F", 4), "bytes", mismatch("fixed", "bytes")),
            ("bytes", fixed("F", 4), mismatch("bytes", "fixed")),
            (fixed("F", 4), "string", mismatch("fixed", "string")),
        ],
    )
    def test_different_kinds_never_read_each_other(self, reader: Any, writer: Any, problem: Problem) -> None:
        assert check(reader, writer) == [problem]


class TestArraysAndMaps:
    def test_items_promote(self) -> None:
        assert check({"type": "array", "items": "long"}, {"type": "array", "items": "int"}) == []
        assert check({"type": "array", "items": "int"}, {"type": "array", "items": "long"}) == [
            mismatch("int", "long", "/items")
        ]

    def test_values_promote(self) -> None:
        assert check({"type": "map", "values": "double"}, {"type": "map", "values": "float"}) == []
        assert check({"type": "map", "values": "float"}, {"type": "map", "values": "double"}) == [
            mismatch("float", "double", "/values")
        ]


class TestNames:
    def test_different_names_do_not_read_each_other(self) -> None:
        assert check(record("Patient"), record("Person")) == [("NAME_MISMATCH", "/name", "expected: Person")]
        assert check(record("Person"), record("Patient")) == [("NAME_MISMATCH", "/name", "expected: Patient")]

    def test_only_the_unqualified_name_is_compared(self) -> None:
        assert check(record("Patient", namespace="a"), record("Patient", namespace="b")) == []
        assert check(record("b.Patient"), record("Patient")) == []

    def test_a_reader_alias_matches_the_writer_full_name(self) -> None:
        assert check(record("Person", aliases=["Patient"]), record("Patient")) == []
        # Aliases belong to the reader: the writer's do not help.
        assert check(record("Patient"), record("Person", aliases=["Patient"])) == [
            ("NAME_MISMATCH", "/name", "expected: Person")
        ]

    def test_a_relative_alias_lives_in_the_reader_namespace(self) -> None:
        reader = record("New", namespace="x", aliases=["Old"])
        assert check(reader, record("Old", namespace="x")) == []
        assert check(reader, record("Old", namespace="y")) == [("NAME_MISMATCH", "/name", "expected: y.Old")]

    def test_enum_and_fixed_names_follow_the_same_rule(self) -> None:
        assert check(enum("Sex", "F", "M"), enum("Gender", "F", "M")) == [
            ("NAME_MISMATCH", "/name", "expected: Gender")
        ]
        assert check(enum("Sex", "F", "M", aliases=["Gender"]), enum("Gender", "F", "M")) == []
        assert check(fixed("Md5", 16), fixed("Hash", 16)) == [("NAME_MISMATCH", "/name", "expected: Hash")]
        assert check(fixed("Md5", 16, aliases=["Hash"]), fixed("Hash", 16)) == []
        assert check(fixed("Hash", 16), fixed("Md5", 16, aliases=["Hash"])) == [
            ("NAME_MISMATCH", "/name", "expected: Md5")
        ]


class TestFixed:
    def test_sizes_must_match_either_way(self) -> None:
        assert check(fixed("F", 8), fixed("F", 4)) == [("FIXED_SIZE_MISMATCH", "/size", "expected: 4, found: 8")]
        assert check(fixed("F", 4), fixed("F", 8)) == [("FIXED_SIZE_MISMATCH", "/size", "expected: 8, found: 4")]

    def test_name_and_size_are_both_reported(self) -> None:
        assert check(fixed("A", 8), fixed("B", 4)) == [
            ("NAME_MISMATCH", "/name", "expected: B"),
            ("FIXED_SIZE_MISMATCH", "/size", "expected: 4, found: 8"),
        ]


class TestEnums:
    def test_the_reader_needs_every_writer_symbol(self) -> None:
        assert check(enum("E", "A", "B", "C", "D"), enum("E", "A", "B")) == []
        assert check(enum("E", "A", "B"), enum("E", "D", "A", "C", "B")) == [
            ("MISSING_ENUM_SYMBOLS", "/symbols", "[C, D]")
        ]

    def test_a_reader_enum_default_stands_in_for_missing_symbols(self) -> None:
        assert check(enum("E", "A", "B", default="A"), enum("E", "A", "B", "C")) == []

    def test_a_writer_enum_default_does_not_help(self) -> None:
        assert check(enum("E", "A", "B"), enum("E", "A", "B", "C", default="A")) == [
            ("MISSING_ENUM_SYMBOLS", "/symbols", "[C]")
        ]


class TestRecordFields:
    def test_a_reader_field_the_writer_lacks_needs_a_default(self) -> None:
        old = record("R", {"name": "a", "type": "int"})
        new = record("R", {"name": "a", "type": "int"}, {"name": "b", "type": "string"})
        assert check(new, old) == [("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/1", "b")]
        # The other way round the writer has an extra field, which the reader skips.
        assert check(old, new) == []

    @pytest.mark.parametrize("default", ["", None])
    def test_a_default_fills_the_missing_field(self, default: str | None) -> None:
        field_type = "string" if default is not None else ["null", "string"]
        new = record("R", {"name": "a", "type": "int"}, {"name": "b", "type": field_type, "default": default})
        old = record("R", {"name": "a", "type": "int"})
        assert check(new, old) == check(old, new) == []

    def test_fields_match_by_name_not_position(self) -> None:
        one = record("R", {"name": "a", "type": "int"}, {"name": "b", "type": "string"})
        two = record("R", {"name": "b", "type": "string"}, {"name": "a", "type": "int"})
        assert check(one, two) == check(two, one) == []

    def test_a_changed_field_type_is_located(self) -> None:
        reader = record("R", {"name": "a", "type": "int"}, {"name": "b", "type": "int"}, {"name": "c", "type": "int"})
        writer = record("R", {"name": "a", "type": "int"}, {"name": "b", "type": "int"}, {"name": "c", "type": "long"})
        assert check(reader, writer) == [mismatch("int", "long", "/fields/2/type")]
        assert check(writer, reader) == []

    def test_a_reader_field_alias_finds_the_old_field(self) -> None:
        old = record("R", {"name": "mrn", "type": "string"})
        new = record("R", {"name": "medical_record_number", "type": "string", "aliases": ["mrn"]})
        assert check(new, old) == []
        # Field aliases are the reader's too.
        assert check(old, new) == [("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/0", "mrn")]

    def test_problems_are_reported_in_reader_field_order(self) -> None:
        reader = record(
            "R",
            {"name": "x", "type": "string"},
            {"name": "a", "type": "int"},
            {"name": "e", "type": enum("E", "A")},
        )
        writer = record("R", {"name": "e", "type": enum("E", "A", "B")}, {"name": "a", "type": "long"})
        assert check(reader, writer) == [
            ("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/0", "x"),
            mismatch("int", "long", "/fields/1/type"),
            ("MISSING_ENUM_SYMBOLS", "/fields/2/type/symbols", "[B]"),
        ]

    def test_an_enum_default_does_not_make_a_missing_field_optional(self) -> None:
        # Avro Java compares the enum with the writer record here, hence a TYPE_MISMATCH (ENUM vs RECORD).
        reader = record("R", {"name": "a", "type": "int"}, {"name": "e", "type": enum("E", "A", default="A")})
        writer = record("R", {"name": "a", "type": "int"})
        assert check(reader, writer) == [mismatch("enum", "record", "/fields/1/type")]

    def test_a_field_matching_two_writer_fields_is_an_error(self) -> None:
        reader = record("R", {"name": "a", "type": "int", "aliases": ["b"]})
        writer = record("R", {"name": "a", "type": "int"}, {"name": "b", "type": "int"})
        with pytest.raises(SchemaError, match=r"reader field 'a' at /fields/0 matches 2 fields of writer record 'R'"):
            check_reader_writer(parse(reader), parse(writer))
        # The other way round the alias is the writer's, which counts for nothing.
        assert check(writer, reader) == [("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/1", "b")]


class TestUnions:
    def test_every_writer_branch_must_be_readable(self) -> None:
        assert check("long", ["int", "long"]) == []
        assert check("int", ["null", "int"]) == [mismatch("int", "null", "/0")]
        assert check("long", ["int", "float"]) == [mismatch("long", "float", "/1")]

    def test_some_reader_branch_must_read_the_writer(self) -> None:
        assert check(["null", "long"], "int") == []
        assert check(["null", "string"], "int") == [missing_branch("int", "/")]

    def test_union_to_union(self) -> None:
        assert check(["null", "string", "int"], ["null", "string"]) == []
        assert check(["null", "string"], ["null", "string", "int"]) == [missing_branch("int", "/2")]
        assert check(["int"], ["int", "long", "float", "double"]) == [
            missing_branch("long", "/1"),
            missing_branch("float", "/2"),
            missing_branch("double", "/3"),
        ]

    def test_branch_order_does_not_matter(self) -> None:
        assert check(["string", "null"], ["null", "string"]) == check(["null", "string"], ["string", "null"]) == []

    def test_a_branch_may_be_read_through_a_promotion(self) -> None:
        assert check(["null", "double"], ["null", "int", "float"]) == []
        assert check(["null", "int", "float"], ["null", "double"]) == [missing_branch("double", "/1")]

    def test_a_renamed_record_branch_is_missing(self) -> None:
        reader = ["int", record("Record1", {"name": "field1", "type": "int"})]
        writer = ["int", record("Record2", {"name": "field1", "type": "int"})]
        assert check(reader, writer) == [missing_branch("record", "/1")]

    def test_inside_a_record(self) -> None:
        reader = record("R", {"name": "a", "type": ["null", "int"]}, {"name": "b", "type": ["null", "int"]})
        writer = record("R", {"name": "a", "type": ["null", "int"]}, {"name": "b", "type": ["null", "int", "string"]})
        assert check(reader, writer) == [missing_branch("string", "/fields/1/type/2")]
        assert check(writer, reader) == []


class TestNullable:
    def test_making_a_field_nullable_reads_old_data(self) -> None:
        old = record("R", {"name": "name", "type": "string"})
        new = record("R", {"name": "name", "type": ["null", "string"], "default": None})
        assert check(new, old) == []
        assert check(old, new) == [mismatch("string", "null", "/fields/0/type/0")]

    def test_nullable_promotion(self) -> None:
        assert check(["null", "long"], "int") == []
        assert check(["null", "long"], ["null", "int"]) == []
        assert check(["null", "int"], ["null", "long"]) == [missing_branch("long", "/1")]
        assert check("int", ["null", "long"]) == [mismatch("int", "null", "/0"), mismatch("int", "long", "/1")]


LINKED_LIST = record(
    "Node",
    {"name": "value", "type": "int"},
    {"name": "next", "type": ["null", "Node"], "default": None},
)


def linked_list(value_type: str, *extra_fields: dict[str, Any], name: str = "Node", **extra: Any) -> Any:
    fields: list[dict[str, Any]] = [
        {"name": "value", "type": value_type},
        {"name": "next", "type": ["null", name], "default": None},
    ]
    return record(name, *fields, *extra_fields, **extra)


class TestRecursion:
    def test_a_linked_list_reads_itself(self) -> None:
        assert check(LINKED_LIST, LINKED_LIST) == []

    def test_a_change_inside_a_recursive_type_is_reported_once(self) -> None:
        assert check(linked_list("long"), linked_list("int")) == []
        assert check(linked_list("int"), linked_list("long")) == [mismatch("int", "long", "/fields/0/type")]

    def test_a_new_field_in_a_recursive_type(self) -> None:
        with_label = linked_list("int", {"name": "label", "type": "string"})
        assert check(with_label, linked_list("int")) == [("READER_FIELD_MISSING_DEFAULT_VALUE", "/fields/2", "label")]
        assert check(linked_list("int"), with_label) == []

    def test_a_renamed_recursive_type_with_an_alias(self) -> None:
        renamed = linked_list("int", name="ListNode", aliases=["Node"])
        assert check(renamed, linked_list("int")) == []
        assert check(linked_list("int"), renamed) == [("NAME_MISMATCH", "/name", "expected: ListNode")]

    def test_mutual_recursion(self) -> None:
        def tree(leaf_type: str) -> Any:
            branch = record("Branch", {"name": "children", "type": {"type": "array", "items": "Tree"}})
            leaf = {"name": "leaf", "type": leaf_type}
            return record("Tree", {"name": "node", "type": ["null", branch]}, leaf)

        assert check(tree("double"), tree("float")) == []
        assert check(tree("float"), tree("double")) == [mismatch("float", "double", "/fields/1/type")]


class TestLogicalTypes:
    """Avro Java ignores logical types: only the underlying types are compared."""

    @staticmethod
    def decimal(precision: int, scale: int) -> Any:
        return {"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}

    def test_decimal_precision_and_scale_are_not_compared(self) -> None:
        assert check(self.decimal(4, 2), self.decimal(10, 5)) == check(self.decimal(10, 5), self.decimal(4, 2)) == []

    def test_a_decimal_reads_and_is_read_as_its_underlying_type(self) -> None:
        assert check(self.decimal(4, 2), "bytes") == check("bytes", self.decimal(4, 2)) == []
        assert check(self.decimal(4, 2), "string") == []  # string -> bytes promotion

    def test_fixed_and_bytes_decimals_differ_in_type(self) -> None:
        fixed_decimal = fixed("Money", 8, logicalType="decimal", precision=12, scale=2)
        assert check(fixed_decimal, self.decimal(12, 2)) == [mismatch("fixed", "bytes")]
        assert check(self.decimal(12, 2), fixed_decimal) == [mismatch("bytes", "fixed")]

    def test_fixed_decimals_compare_as_fixed(self) -> None:
        small = fixed("Money", 8, logicalType="decimal", precision=12, scale=2)
        large = fixed("Money", 16, logicalType="decimal", precision=30, scale=2)
        assert check(small, large) == [("FIXED_SIZE_MISMATCH", "/size", "expected: 16, found: 8")]

    def test_dates_and_timestamps_follow_int_and_long(self) -> None:
        date = {"type": "int", "logicalType": "date"}
        millis = {"type": "long", "logicalType": "timestamp-millis"}
        micros = {"type": "long", "logicalType": "timestamp-micros"}
        assert check(millis, date) == []
        assert check(date, millis) == [mismatch("int", "long")]
        assert check(millis, micros) == check(micros, millis) == []

    def test_uuid_is_a_string(self) -> None:
        uuid = {"type": "string", "logicalType": "uuid"}
        assert check(uuid, "string") == check("string", uuid) == []


class TestResultShape:
    def test_an_incompatibility_points_at_the_nodes_that_disagree(self) -> None:
        reader = parse(record("R", {"name": "a", "type": "int"}))
        writer = parse(record("R", {"name": "a", "type": "long"}))
        [problem] = check_reader_writer(reader, writer)
        assert isinstance(reader.root, RecordSchema)
        assert isinstance(writer.root, RecordSchema)
        assert problem.reader_fragment is reader.root.fields[0].schema
        assert problem.writer_fragment is writer.root.fields[0].schema
        assert str(problem) == "TYPE_MISMATCH at /fields/0/type: reader type: INT not compatible with writer type: LONG"

    def test_fragments_take_no_part_in_equality(self) -> None:
        first = check_reader_writer(parse("int"), parse("long"))
        second = check_reader_writer(parse("int"), parse("long"))
        assert first == second
        assert first[0] == Incompatibility(
            IncompatibilityType.TYPE_MISMATCH, "/", first[0].message, parse("null").root, parse("null").root
        )

    def test_a_named_type_used_twice_reports_at_its_first_use(self) -> None:
        # Avro Java memoizes by (reader, writer) node pair, so the second use repeats the first's result.
        def visit(stamp_type: str) -> Any:
            stamp = record("Stamp", {"name": "at", "type": stamp_type})
            return record("Visit", {"name": "admitted", "type": stamp}, {"name": "discharged", "type": "Stamp"})

        location = "/fields/0/type/fields/0/type"
        assert check(visit("int"), visit("long")) == [mismatch("int", "long", location)] * 2


@settings(max_examples=200, deadline=None)
@given(avro_schemas())
def test_any_schema_is_compatible_with_itself(schema_json: Any) -> None:
    one, other = parse(schema_json), parse(schema_json)
    assert check_reader_writer(one, other) == []
    assert check_reader_writer(other, one) == []
    assert check_reader_writer(one, one) == []
    for level in CompatibilityLevel:
        assert check_compatibility(one, [other, other], level) == []


V_A = record("R", {"name": "a", "type": "int"})
V_A_B = record("R", {"name": "a", "type": "int"}, {"name": "b", "type": "string"})
V_A_B_DEFAULT = record("R", {"name": "a", "type": "int"}, {"name": "b", "type": "string", "default": ""})


def levels(new: Any, *existing: Any) -> dict[CompatibilityLevel, bool]:
    """Which levels accept registering `new` after `existing` (oldest first)."""
    history = [parse(e) for e in existing]
    return {level: not check_compatibility(parse(new), history, level) for level in CompatibilityLevel}


L = CompatibilityLevel


class TestLevels:
    def test_values_are_confluents(self) -> None:
        assert [level.value for level in CompatibilityLevel] == [
            "NONE",
            "BACKWARD",
            "BACKWARD_TRANSITIVE",
            "FORWARD",
            "FORWARD_TRANSITIVE",
            "FULL",
            "FULL_TRANSITIVE",
        ]
        assert CompatibilityLevel("FULL_TRANSITIVE").transitive
        assert not CompatibilityLevel("FULL").transitive

    def test_none_accepts_anything(self) -> None:
        assert levels("string", record("R"))[L.NONE]

    def test_a_first_version_is_always_accepted(self) -> None:
        assert all(levels(V_A).values())

    def test_adding_a_field_without_default_breaks_backward_only(self) -> None:
        assert levels(V_A_B, V_A) == {
            L.NONE: True,
            L.BACKWARD: False,
            L.BACKWARD_TRANSITIVE: False,
            L.FORWARD: True,
            L.FORWARD_TRANSITIVE: True,
            L.FULL: False,
            L.FULL_TRANSITIVE: False,
        }

    def test_removing_a_field_without_default_breaks_forward_only(self) -> None:
        assert levels(V_A, V_A_B) == {
            L.NONE: True,
            L.BACKWARD: True,
            L.BACKWARD_TRANSITIVE: True,
            L.FORWARD: False,
            L.FORWARD_TRANSITIVE: False,
            L.FULL: False,
            L.FULL_TRANSITIVE: False,
        }

    def test_a_field_with_a_default_is_fully_compatible(self) -> None:
        assert all(levels(V_A_B_DEFAULT, V_A).values())
        assert all(levels(V_A, V_A_B_DEFAULT).values())

    def test_backward_checks_the_latest_and_transitive_checks_all(self) -> None:
        # v3 reads v2 (which has b) but not v1 (which lacks b, and v3's b has no default).
        result = levels(V_A_B, V_A, V_A_B_DEFAULT)
        assert result[L.BACKWARD]
        assert not result[L.BACKWARD_TRANSITIVE]

    def test_forward_checks_the_latest_and_transitive_checks_all(self) -> None:
        # v2 can read v3 (v2's b has a default) but v1 cannot (its b has none).
        result = levels(V_A, V_A_B, V_A_B_DEFAULT)
        assert result[L.FORWARD]
        assert not result[L.FORWARD_TRANSITIVE]

    def test_full_checks_the_latest_and_transitive_checks_all(self) -> None:
        result = levels(V_A, V_A_B, V_A_B_DEFAULT)
        assert result[L.FULL]
        assert not result[L.FULL_TRANSITIVE]

    def test_only_the_latest_counts_without_transitive(self) -> None:
        assert levels(V_A, "string", V_A)[L.BACKWARD]
        assert not levels(V_A, "string", V_A)[L.BACKWARD_TRANSITIVE]


class TestMessages:
    def test_backward_says_new_reads_old(self) -> None:
        old = parse(V_A)
        assert check_compatibility(parse(V_A_B), [old], L.BACKWARD) == [
            "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'b' at path '/fields/1' in"
            " the new schema has no default value and is missing in the old schema', additionalInfo:'b'}",
            f"{{oldSchema: '{normalize(old)}'}}",
        ]

    def test_forward_says_old_reads_new(self) -> None:
        old = parse(V_A_B)
        assert check_compatibility(parse(V_A), [old], L.FORWARD) == [
            "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'b' at path '/fields/1' in"
            " the old schema has no default value and is missing in the new schema', additionalInfo:'b'}",
            f"{{oldSchema: '{normalize(old)}'}}",
        ]

    def test_full_reports_forward_then_backward_and_the_old_schema_last(self) -> None:
        old = parse(record("R", {"name": "a", "type": "int"}, {"name": "b", "type": "long"}))
        new = parse(record("R", {"name": "a", "type": "long"}))
        assert check_compatibility(new, [old], L.FULL) == [
            "{errorType:'TYPE_MISMATCH', description:'The type (path '/fields/0/type') of a field in the old"
            " schema does not match with the new schema', additionalInfo:'reader type: INT not compatible with"
            " writer type: LONG'}",
            "{errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'b' at path '/fields/1' in"
            " the old schema has no default value and is missing in the new schema', additionalInfo:'b'}",
        ]
        # Confluent only names the old schema after the backward half, so when that half passes there is none.
        assert not any(m.startswith("{oldSchema") for m in check_compatibility(new, [old], L.FULL))
        both_ways = parse(record("R", {"name": "a", "type": "string"}))
        messages = check_compatibility(both_ways, [old], L.FULL)
        assert [m.split("'")[1] for m in messages[:-1]] == [
            "TYPE_MISMATCH",
            "READER_FIELD_MISSING_DEFAULT_VALUE",
            "TYPE_MISMATCH",
        ]
        assert messages[-1] == f"{{oldSchema: '{normalize(old)}'}}"

    def test_transitive_stops_at_the_newest_failing_version(self) -> None:
        oldest, newest = (
            parse(record("R", {"name": "x", "type": "int"})),
            parse(record("R", {"name": "y", "type": "int"})),
        )
        messages = check_compatibility(parse(V_A_B), [oldest, newest], L.BACKWARD_TRANSITIVE)
        assert messages[-1] == f"{{oldSchema: '{normalize(newest)}'}}"

    @pytest.mark.parametrize(
        ("reader", "writer", "description"),
        [
            (
                fixed("F", 8),
                fixed("F", 4),
                "The size of FIXED type field at path '/size' in the new schema does not match with the old schema",
            ),
            ("int", "long", "The type (path '/') of a field in the new schema does not match with the old schema"),
            (record("A"), record("B"), "The name of the schema has changed (path '/name')"),
            (
                enum("E", "A"),
                enum("E", "A", "B"),
                "The new schema is missing enum symbols '[B]' at path '/symbols' in the old schema",
            ),
            (
                ["int"],
                ["int", "string"],
                "The new schema is missing a type inside a union field at path '/1' in the old schema",
            ),
            (
                V_A_B,
                V_A,
                "The field 'b' at path '/fields/1' in the new schema has no default value and is missing in the old"
                " schema",
            ),
        ],
    )
    def test_each_type_is_described_like_confluent(self, reader: Any, writer: Any, description: str) -> None:
        [message, _old_schema] = check_compatibility(parse(reader), [parse(writer)], L.BACKWARD)
        assert f"description:'{description}'" in message

    def test_an_ambiguous_field_is_reported_like_confluent(self) -> None:
        reader = parse(record("R", {"name": "a", "type": "int", "aliases": ["b"]}))
        writer = parse(record("R", {"name": "a", "type": "int"}, {"name": "b", "type": "int"}))
        [message, _old_schema] = check_compatibility(reader, [writer], L.BACKWARD)
        assert message.startswith("Unexpected exception during compatibility check: reader field 'a'")
