"""The registry store: its record codec, the folded state, replay, single-writer fencing, compaction."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from carebus.registry.compatibility import CompatibilityLevel
from carebus.registry.errors import ErrorCode, RegistryApiError, WriterFencedError
from carebus.registry.store import (
    ConfigKey,
    Decision,
    IdHighWaterKey,
    LogRecord,
    MemoryLog,
    MemoryTopic,
    Mode,
    ModeKey,
    Reference,
    RegistryState,
    RegistryStore,
    SchemaKey,
    SubjectVersion,
    decode_record,
    encode_record,
    writer_id_for,
)

FAST_POLL_S = 0.01


def _store(topic: MemoryTopic) -> RegistryStore:
    return RegistryStore(MemoryLog(topic), poll_timeout_s=FAST_POLL_S)


def _version(subject: str, version: int, schema_id: int, *, deleted: bool = False,
             fingerprint: str = "f") -> SubjectVersion:
    return SubjectVersion(subject=subject, version=version, schema_id=schema_id, schema='"string"',
                          fingerprint=f"{fingerprint}{schema_id}", guid=f"g{schema_id}", deleted=deleted)


def _new_version(state: RegistryState, subject: str) -> Decision[int]:
    """A decision like a registration's: the next id, a new version and the high-water mark."""
    schema_id = state.max_id + 1
    version = len(state.versions(subject, include_deleted=True)) + 1
    return Decision(schema_id, (LogRecord.version(_version(subject, version, schema_id)),
                                LogRecord.id_high_water(schema_id)))


@pytest.fixture
def topic() -> MemoryTopic:
    return MemoryTopic()


@pytest.fixture
def store(topic: MemoryTopic) -> Iterator[RegistryStore]:
    store = _store(topic)
    store.start()
    yield store
    store.close()


# --- codec ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("record", [
    LogRecord.version(SubjectVersion("s", 3, 7, '{"type":"int"}', (Reference("a.B", "b-value", 2),), "fp", "g",
                                     deleted=True)),
    LogRecord(SchemaKey("s", 3), None),
    LogRecord(ConfigKey(None), CompatibilityLevel.FULL),
    LogRecord(ConfigKey("s"), CompatibilityLevel.NONE),
    LogRecord(ConfigKey("s"), None),
    LogRecord(ModeKey(None), Mode.IMPORT),
    LogRecord(ModeKey("s"), None),
    LogRecord.id_high_water(42),
])
def test_every_record_survives_encoding(record: LogRecord) -> None:
    assert decode_record(*encode_record(record)) == record


def test_a_key_encodes_to_the_same_bytes_whatever_its_value_so_compaction_matches_it() -> None:
    deleted = encode_record(LogRecord.version(_version("s", 1, 1, deleted=True)))[0]
    live = encode_record(LogRecord.version(_version("s", 1, 1)))[0]
    tombstone = encode_record(LogRecord(SchemaKey("s", 1), None))[0]
    assert deleted == live == tombstone
    assert encode_record(LogRecord(IdHighWaterKey(), 1))[0] == encode_record(LogRecord(IdHighWaterKey(), 9))[0]


def test_unknown_record_types_are_skipped_not_failed() -> None:
    assert decode_record(b'{"keytype":"NOOP","magic":1}', b"{}") is None
    with pytest.raises(ValueError):
        decode_record(b"not json", b"{}")


def test_encoding_refuses_a_value_of_the_wrong_kind() -> None:
    with pytest.raises(TypeError):
        encode_record(LogRecord(ConfigKey("s"), Mode.READONLY))


def test_the_writer_id_is_fixed_per_topic() -> None:
    assert writer_id_for("_schemas") == "carebus-registry-writer._schemas"


# --- state ------------------------------------------------------------------------------------------------


def test_state_folds_versions_ids_configs_and_modes() -> None:
    state = RegistryState()
    for record in [
        LogRecord.version(_version("a", 1, 1)),
        LogRecord.version(_version("b", 1, 1)),
        LogRecord.version(_version("a", 2, 2)),
        LogRecord(ConfigKey("a"), CompatibilityLevel.FULL),
        LogRecord(ModeKey(None), Mode.READONLY),
    ]:
        state.apply(record)

    assert state.subjects() == ["a", "b"]
    assert [v.version for v in state.versions("a")] == [1, 2]
    assert [(v.subject, v.version) for v in state.versions_with_id(1)] == [("a", 1), ("b", 1)]
    assert state.id_for(_version("x", 1, 2).identity) == 2
    assert state.max_id == 2
    assert state.effective_compatibility("a") is CompatibilityLevel.FULL
    assert state.effective_compatibility("b") is CompatibilityLevel.BACKWARD
    assert state.effective_mode("b") is Mode.READONLY


def test_soft_deleted_versions_are_hidden_unless_asked_for() -> None:
    state = RegistryState()
    state.apply(LogRecord.version(_version("a", 1, 1)))
    state.apply(LogRecord.version(_version("a", 1, 1, deleted=True)))

    assert state.versions("a") == []
    assert [v.version for v in state.versions("a", include_deleted=True)] == [1]
    assert state.versions_with_id(1), "a soft-deleted schema can still be read by id"


def test_a_tombstone_forgets_the_version_and_an_id_nothing_else_holds_but_not_the_high_water_mark() -> None:
    state = RegistryState()
    state.apply(LogRecord.version(_version("a", 1, 5)))
    state.apply(LogRecord(SchemaKey("a", 1), None))

    assert state.subjects() == []
    assert state.versions_with_id(5) == []
    assert state.id_for(_version("a", 1, 5).identity) is None
    assert state.max_id == 5


def test_the_high_water_mark_never_goes_down() -> None:
    state = RegistryState()
    state.apply(LogRecord.id_high_water(9))
    state.apply(LogRecord.id_high_water(3))
    assert state.max_id == 9


def test_referrers_are_the_versions_naming_a_subject_version() -> None:
    state = RegistryState()
    state.apply(LogRecord.version(_version("common", 1, 1)))
    referrer = SubjectVersion("event", 1, 2, "{}", (Reference("c.Common", "common", 1),), "f2", "g2")
    state.apply(LogRecord.version(referrer))

    assert state.referrers("common", 1) == [referrer]
    assert state.referrers("common", 2) == []


# --- the store --------------------------------------------------------------------------------------------


def test_a_write_is_visible_as_soon_as_it_returns(store: RegistryStore) -> None:
    schema_id = store.write(lambda state: _new_version(state, "a"))

    assert schema_id == 1
    assert store.read(lambda state: [v.schema_id for v in state.versions("a")]) == [1]


def test_a_decision_without_records_writes_nothing(store: RegistryStore, topic: MemoryTopic) -> None:
    before = topic.end_offset
    assert store.write(lambda _state: Decision("nothing to do")) == "nothing to do"
    assert topic.end_offset == before


def test_a_rule_error_aborts_the_write(store: RegistryStore, topic: MemoryTopic) -> None:
    def refuse(_state: RegistryState) -> Decision[None]:
        raise RegistryApiError(ErrorCode.INVALID_SCHEMA, "no")

    with pytest.raises(RegistryApiError):
        store.write(refuse)
    assert topic.entries() == []


def test_a_new_store_replays_the_log(store: RegistryStore, topic: MemoryTopic) -> None:
    store.write(lambda state: _new_version(state, "a"))
    store.write(lambda state: _new_version(state, "b"))

    replayed = _store(topic)
    replayed.start()
    try:
        assert replayed.read(lambda state: (state.subjects(), state.max_id)) == (["a", "b"], 2)
    finally:
        replayed.close()


def test_ids_are_not_reused_after_a_permanent_delete_even_once_compaction_dropped_the_tombstones(
    store: RegistryStore, topic: MemoryTopic
) -> None:
    store.write(lambda state: _new_version(state, "a"))
    store.write(lambda state: _new_version(state, "b"))
    store.write(lambda _state: Decision(None, (LogRecord(SchemaKey("b", 1), None),)))
    topic.compact()
    assert all(entry.value is not None for entry in topic.entries())

    restarted = _store(topic)
    restarted.start()
    try:
        assert restarted.read(lambda state: state.versions_with_id(2)) == []
        assert restarted.write(lambda state: _new_version(state, "c")) == 3
    finally:
        restarted.close()


def test_two_instances_take_the_writer_role_from_each_other_and_agree(topic: MemoryTopic) -> None:
    first, second = _store(topic), _store(topic)
    first.start()
    second.start()
    try:
        assert first.write(lambda state: _new_version(state, "a")) == 1
        assert second.write(lambda state: _new_version(state, "b")) == 2  # fences the first
        # The first's writer is fenced now: its append fails, and the store claims again and redoes the write
        # against the state that includes the second's record, so it cannot hand out id 2 twice.
        assert first.write(lambda state: _new_version(state, "c")) == 3
        assert second.sync()
        for store in (first, second):
            assert store.read(lambda state: {v.subject: v.schema_id for v in state.all_versions()}) == {
                "a": 1, "b": 2, "c": 3}
    finally:
        first.close()
        second.close()


def test_a_fenced_append_writes_nothing(topic: MemoryTopic) -> None:
    stale, current = MemoryLog(topic), MemoryLog(topic)
    stale.claim_writer()
    current.claim_writer()

    with pytest.raises(WriterFencedError):
        stale.append([(b"k", b"v")])
    assert topic.entries() == []


def test_undecodable_records_are_skipped(topic: MemoryTopic) -> None:
    writer = MemoryLog(topic)
    writer.claim_writer()
    writer.append([(b"garbage", b"garbage"), encode_record(LogRecord.version(_version("a", 1, 1)))])

    store = _store(topic)
    store.start()
    try:
        assert store.read(lambda state: state.subjects()) == ["a"]
    finally:
        store.close()


def test_writing_before_start_is_refused() -> None:
    with pytest.raises(RegistryApiError) as raised:
        RegistryStore(MemoryLog()).write(lambda _state: Decision(None))
    assert raised.value.code is ErrorCode.STORE_ERROR


def test_the_default_level_is_configurable() -> None:
    store = RegistryStore(MemoryLog(), default_compatibility=CompatibilityLevel.FULL_TRANSITIVE)
    assert store.read(lambda state: state.effective_compatibility("x")) is CompatibilityLevel.FULL_TRANSITIVE
