"""The registry's state and the log it lives in: the single-partition, compacted `_schemas` topic.

Every instance replays the log from the beginning at start-up and then tails it, folding each record into a
`RegistryState`. The log is the only state there is, so any number of instances can serve reads.

Records (JSON, keys serialized with sorted keys so that equal keys are equal bytes, which compaction needs):

    SCHEMA        {subject, version}  ->  the version (id, schema text, references, fingerprint, deleted flag)
    CONFIG        {subject | null}    ->  {"compatibilityLevel": ...}   (null subject: the global level)
    MODE          {subject | null}    ->  {"mode": ...}
    ID_HIGH_WATER {}                  ->  {"maxId": n}

A soft delete rewrites a version with `deleted: true`; a permanent delete writes a tombstone for it, and
compaction may later drop both the version and the tombstone. So ids are never derived from the surviving
versions alone: every record that hands out a new id also writes `ID_HIGH_WATER`, a key that is never
tombstoned, whose latest value compaction always keeps. The next id is `max(maxId, every id seen) + 1`, so an id
survives restarts and is never reused after a permanent delete.

Single writer: fencing, not forwarding. Any instance may write, but only through a Kafka transactional producer
whose `transactional.id` is fixed per log (`carebus-registry-writer.<topic>`). A write is

    claim the writer role (init_transactions, which fences every other instance and completes or aborts
    whatever transaction the previous holder left open) -> read the log to its end -> decide against that
    state -> append the records in one transaction -> wait until the tailer has applied them.

An instance that was fenced since its claim fails at append time (`WriterFencedError`), so nothing is written
from stale state; the store claims again and redoes the whole write. Two instances that both write take turns
fencing each other, which costs an `init_transactions` per turn and is fine for a registry's write rate. The
tailer reads with `isolation.level=read_committed`, so aborted writes are never applied. Waiting for our own
records before answering gives read-your-writes, as Confluent's `waitUntilKafkaReaderReachesLastOffset` does.

`RegistryLog` is the port; `KafkaRegistryLog` is the adapter, and `MemoryLog` (views of a shared `MemoryTopic`)
stands in for it in unit tests, including fencing between instances and compaction.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeAlias, TypeVar

import confluent_kafka

from carebus.errors import ConfigError, KafkaError, PublishError
from carebus.ids import TopicName
from carebus.kafka.admin import apply_topics
from carebus.kafka.config import KafkaConnection
from carebus.kafka.producer import DurableProducer, Record
from carebus.registry.compatibility import CompatibilityLevel
from carebus.registry.errors import ErrorCode, RegistryApiError, WriterFencedError
from carebus.topics import SCHEMAS_TOPIC, topic_spec

__all__ = [
    "DEFAULT_COMPATIBILITY",
    "DEFAULT_MODE",
    "ConfigKey",
    "Decision",
    "IdHighWaterKey",
    "KafkaRegistryLog",
    "LogBatch",
    "LogEntry",
    "LogRecord",
    "MemoryLog",
    "MemoryTopic",
    "Mode",
    "ModeKey",
    "Reference",
    "RegistryLog",
    "RegistryState",
    "RegistryStore",
    "SchemaKey",
    "SubjectVersion",
    "decode_record",
    "encode_record",
    "writer_id_for",
]

logger = logging.getLogger(__name__)

DEFAULT_COMPATIBILITY = CompatibilityLevel.BACKWARD  # Confluent's default
DEFAULT_TIMEOUT_S = 10.0
STARTUP_TIMEOUT_S = 60.0
WRITE_ATTEMPTS = 3
POLL_TIMEOUT_S = 0.2
READER_BACKOFF_S = 1.0
METADATA_RETRY_S = 0.1
WRITER_ID_PREFIX = "carebus-registry-writer"
# Kept well under the broker's transaction.max.timeout.ms: a registry transaction lasts milliseconds, and a
# crashed writer's open transaction should not hold back read_committed readers for long.
TRANSACTION_TIMEOUT_MS = 10_000
FENCED_ERRORS = frozenset({"_FENCED", "PRODUCER_FENCED", "INVALID_PRODUCER_EPOCH"})
TRANSIENT_ERRORS = frozenset({
    confluent_kafka.KafkaError.NOT_LEADER_FOR_PARTITION,
    confluent_kafka.KafkaError.LEADER_NOT_AVAILABLE,
    confluent_kafka.KafkaError.UNKNOWN_TOPIC_OR_PART,
    confluent_kafka.KafkaError._TRANSPORT,
})
_KEY_MAGIC = 1

T = TypeVar("T")


class Mode(StrEnum):
    """A subject's or the registry's mode. IMPORT lets a client choose ids and versions (for migrations)."""

    READWRITE = "READWRITE"
    READONLY = "READONLY"
    IMPORT = "IMPORT"


DEFAULT_MODE = Mode.READWRITE


@dataclass(frozen=True)
class Reference:
    """A Confluent schema reference: the named type `name` is defined by `subject` at `version`."""

    name: str
    subject: str
    version: int


@dataclass(frozen=True)
class SubjectVersion:
    """One version of a subject as the log holds it. `fingerprint` and `references` identify the schema."""

    subject: str
    version: int
    schema_id: int
    schema: str = field(repr=False)
    references: tuple[Reference, ...] = ()
    fingerprint: str = field(default="", repr=False)
    guid: str = ""
    deleted: bool = False
    schema_type: str = "AVRO"

    @property
    def identity(self) -> SchemaIdentity:
        return (self.fingerprint, self.references)


SchemaIdentity: TypeAlias = tuple[str, tuple[Reference, ...]]
"""What makes two registrations "the same schema": the normalized fingerprint plus the references."""


@dataclass(frozen=True)
class SchemaKey:
    subject: str
    version: int


@dataclass(frozen=True)
class ConfigKey:
    subject: str | None = None


@dataclass(frozen=True)
class ModeKey:
    subject: str | None = None


@dataclass(frozen=True)
class IdHighWaterKey:
    pass


RecordKey: TypeAlias = SchemaKey | ConfigKey | ModeKey | IdHighWaterKey
RecordValue: TypeAlias = SubjectVersion | CompatibilityLevel | Mode | int


@dataclass(frozen=True)
class LogRecord:
    """One record of the registry log; `value` None is a tombstone."""

    key: RecordKey
    value: RecordValue | None

    @classmethod
    def version(cls, version: SubjectVersion) -> LogRecord:
        return cls(SchemaKey(version.subject, version.version), version)

    @classmethod
    def id_high_water(cls, max_id: int) -> LogRecord:
        return cls(IdHighWaterKey(), max_id)


@dataclass(frozen=True)
class Decision(Generic[T]):
    """What a write decided against the current state: the records to append and the answer to give."""

    result: T
    records: tuple[LogRecord, ...] = ()


@dataclass(frozen=True)
class LogEntry:
    """A raw record as the log returns it, with its offset for log lines."""

    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class LogBatch:
    """Records read, and the offset after everything read so far (control records included)."""

    entries: tuple[LogEntry, ...]
    next_offset: int


# --- the record codec -------------------------------------------------------------------------------------


def _dump(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def encode_record(record: LogRecord) -> tuple[bytes, bytes | None]:
    """The (key, value) bytes of a record; keys are canonical JSON so that compaction matches them."""
    key, value = record.key, record.value
    match key:
        case SchemaKey(subject=subject, version=version):
            key_obj: dict[str, Any] = {"keytype": "SCHEMA", "subject": subject, "version": version}
        case ConfigKey(subject=subject):
            key_obj = {"keytype": "CONFIG", "subject": subject}
        case ModeKey(subject=subject):
            key_obj = {"keytype": "MODE", "subject": subject}
        case IdHighWaterKey():
            key_obj = {"keytype": "ID_HIGH_WATER"}
    key_bytes = _dump({**key_obj, "magic": _KEY_MAGIC})
    if value is None:
        return key_bytes, None
    match key, value:
        case SchemaKey(), SubjectVersion():
            value_obj: dict[str, Any] = {
                "subject": value.subject,
                "version": value.version,
                "id": value.schema_id,
                "schema": value.schema,
                "schemaType": value.schema_type,
                "references": [{"name": r.name, "subject": r.subject, "version": r.version}
                               for r in value.references],
                "fingerprint": value.fingerprint,
                "guid": value.guid,
                "deleted": value.deleted,
            }
        case ConfigKey(), CompatibilityLevel():
            value_obj = {"compatibilityLevel": value.value}
        case ModeKey(), Mode():
            value_obj = {"mode": value.value}
        case IdHighWaterKey(), int():
            value_obj = {"maxId": value}
        case _:
            raise TypeError(f"a {type(key).__name__} cannot hold a {type(value).__name__}")
    return key_bytes, _dump(value_obj)


def decode_record(key: bytes | None, value: bytes | None) -> LogRecord | None:
    """The record for raw bytes; None for a key type this version does not know (newer writers may add some).

    Raises ValueError (or KeyError/TypeError) for bytes that are not a registry record at all.
    """
    if key is None:
        raise ValueError("registry records always have a key")
    key_obj = json.loads(key)
    keytype = key_obj.get("keytype")
    record_key: RecordKey
    if keytype == "SCHEMA":
        record_key = SchemaKey(str(key_obj["subject"]), int(key_obj["version"]))
    elif keytype == "CONFIG":
        record_key = ConfigKey(key_obj.get("subject"))
    elif keytype == "MODE":
        record_key = ModeKey(key_obj.get("subject"))
    elif keytype == "ID_HIGH_WATER":
        record_key = IdHighWaterKey()
    else:
        return None
    if value is None:
        return LogRecord(record_key, None)
    value_obj = json.loads(value)
    match record_key:
        case SchemaKey(subject=subject, version=version):
            return LogRecord(record_key, SubjectVersion(
                subject=subject,
                version=version,
                schema_id=int(value_obj["id"]),
                schema=str(value_obj["schema"]),
                references=tuple(Reference(str(r["name"]), str(r["subject"]), int(r["version"]))
                                 for r in value_obj.get("references") or ()),
                fingerprint=str(value_obj.get("fingerprint", "")),
                guid=str(value_obj.get("guid", "")),
                deleted=bool(value_obj.get("deleted", False)),
                schema_type=str(value_obj.get("schemaType", "AVRO")),
            ))
        case ConfigKey():
            return LogRecord(record_key, CompatibilityLevel(value_obj["compatibilityLevel"]))
        case ModeKey():
            return LogRecord(record_key, Mode(value_obj["mode"]))
        case IdHighWaterKey():
            return LogRecord(record_key, int(value_obj["maxId"]))
    return None


# --- the state --------------------------------------------------------------------------------------------


class RegistryState:
    """Everything the log says, folded: subjects and versions, configs, modes and the id high-water mark.

    Not thread-safe on its own; `RegistryStore` guards it with one lock.
    """

    def __init__(self, default_compatibility: CompatibilityLevel = DEFAULT_COMPATIBILITY) -> None:
        self.default_compatibility = default_compatibility
        self._versions: dict[str, dict[int, SubjectVersion]] = {}
        self._by_id: dict[int, dict[tuple[str, int], SubjectVersion]] = {}
        self._ids_by_identity: dict[SchemaIdentity, set[int]] = {}
        self._max_id = 0
        self._compatibility: dict[str | None, CompatibilityLevel] = {}
        self._mode: dict[str | None, Mode] = {}

    def apply(self, record: LogRecord) -> None:
        """Fold one record into the state (the latest record for a key wins; None removes it)."""
        key, value = record.key, record.value
        match key:
            case SchemaKey():
                self._remove_version(key)
                if isinstance(value, SubjectVersion):
                    self._add_version(value)
            case ConfigKey(subject=subject):
                if isinstance(value, CompatibilityLevel):
                    self._compatibility[subject] = value
                else:
                    self._compatibility.pop(subject, None)
            case ModeKey(subject=subject):
                if isinstance(value, Mode):
                    self._mode[subject] = value
                else:
                    self._mode.pop(subject, None)
            case IdHighWaterKey():
                # Never lowered: a stale or missing high-water record must not let an id be handed out twice.
                if isinstance(value, int):
                    self._max_id = max(self._max_id, value)

    def _add_version(self, version: SubjectVersion) -> None:
        self._versions.setdefault(version.subject, {})[version.version] = version
        self._by_id.setdefault(version.schema_id, {})[(version.subject, version.version)] = version
        self._ids_by_identity.setdefault(version.identity, set()).add(version.schema_id)
        self._max_id = max(self._max_id, version.schema_id)

    def _remove_version(self, key: SchemaKey) -> None:
        old = self._versions.get(key.subject, {}).pop(key.version, None)
        if old is None:
            return
        if not self._versions[key.subject]:
            del self._versions[key.subject]
        holders = self._by_id[old.schema_id]
        holders.pop((old.subject, old.version), None)
        if not holders:
            del self._by_id[old.schema_id]
            ids = self._ids_by_identity[old.identity]
            ids.discard(old.schema_id)
            if not ids:
                del self._ids_by_identity[old.identity]

    @property
    def max_id(self) -> int:
        """The highest id ever handed out (ids start at 1)."""
        return self._max_id

    def subjects(self) -> list[str]:
        """Every subject with at least one version, soft-deleted or not, sorted."""
        return sorted(self._versions)

    def versions(self, subject: str, *, include_deleted: bool = False) -> list[SubjectVersion]:
        """A subject's versions, oldest first."""
        versions = self._versions.get(subject, {})
        return [versions[v] for v in sorted(versions) if include_deleted or not versions[v].deleted]

    def version(self, subject: str, version: int) -> SubjectVersion | None:
        """One version, soft-deleted or not."""
        return self._versions.get(subject, {}).get(version)

    def versions_with_id(self, schema_id: int) -> list[SubjectVersion]:
        """Every version, soft-deleted or not, that holds `schema_id`, by subject then version."""
        holders = self._by_id.get(schema_id, {})
        return [holders[k] for k in sorted(holders)]

    def all_versions(self) -> Iterator[SubjectVersion]:
        for subject in sorted(self._versions):
            yield from self.versions(subject, include_deleted=True)

    def id_for(self, identity: SchemaIdentity) -> int | None:
        """The id already given to this schema (the lowest, if an import gave it several)."""
        ids = self._ids_by_identity.get(identity)
        return min(ids) if ids else None

    def compatibility(self, subject: str | None) -> CompatibilityLevel | None:
        """The level configured for `subject` (None: the global one), if any."""
        return self._compatibility.get(subject)

    def effective_compatibility(self, subject: str) -> CompatibilityLevel:
        return self._compatibility.get(subject) or self._compatibility.get(None) or self.default_compatibility

    def mode(self, subject: str | None) -> Mode | None:
        return self._mode.get(subject)

    def effective_mode(self, subject: str) -> Mode:
        return self._mode.get(subject) or self._mode.get(None) or DEFAULT_MODE

    def referrers(self, subject: str, version: int) -> list[SubjectVersion]:
        """Versions whose references name `subject` at `version`."""
        return [v for v in self.all_versions()
                if any(r.subject == subject and r.version == version for r in v.references)]


# --- the port and its adapters ----------------------------------------------------------------------------


class RegistryLog(Protocol):
    """The registry's log: one ordered partition, read from the start, appended to atomically."""

    def open(self) -> None:
        """Make sure the log exists and start reading it from the beginning. No I/O happens before this."""

    def end_offset(self) -> int:
        """The offset after the last record written so far."""

    def poll(self, timeout_s: float) -> LogBatch:
        """The next records (possibly none), waiting at most `timeout_s` for the first."""

    def claim_writer(self) -> None:
        """Become the only writer, fencing every other instance; a no-op while this instance holds the role."""

    def append(self, records: Sequence[tuple[bytes, bytes | None]]) -> int:
        """Append all of `records` or none; return the offset after the last. `WriterFencedError` if fenced."""

    def close(self) -> None:
        """Release clients; the log can be opened again."""


class MemoryTopic:
    """An in-memory stand-in for the compacted topic, shared by the `MemoryLog` of each simulated instance."""

    def __init__(self) -> None:
        self._entries: list[LogEntry] = []
        self._next_offset = 0
        self._writer_epoch = 0
        self._changed = threading.Condition()

    @property
    def end_offset(self) -> int:
        with self._changed:
            return self._next_offset

    def entries(self) -> list[LogEntry]:
        with self._changed:
            return list(self._entries)

    def claim(self) -> int:
        with self._changed:
            self._writer_epoch += 1
            return self._writer_epoch

    def append(self, records: Sequence[tuple[bytes, bytes | None]], epoch: int) -> int:
        with self._changed:
            if epoch != self._writer_epoch:
                raise WriterFencedError("memory")
            for key, value in records:
                self._entries.append(LogEntry(self._next_offset, key, value))
                self._next_offset += 1
            # Like a transaction's commit marker, which takes an offset of its own.
            self._next_offset += 1
            self._changed.notify_all()
            return self._next_offset - 1

    def read_from(self, offset: int, timeout_s: float) -> tuple[list[LogEntry], int]:
        with self._changed:
            self._changed.wait_for(lambda: self._next_offset > offset, timeout_s)
            return [e for e in self._entries if e.offset >= offset], self._next_offset

    def compact(self) -> None:
        """What log compaction may do: keep each key's latest record, and drop tombstones altogether."""
        with self._changed:
            latest = {entry.key: entry for entry in self._entries}
            self._entries = [e for e in self._entries if latest[e.key] is e and e.value is not None]


class MemoryLog:
    """One instance's view of a `MemoryTopic`: its own read position and its own claim to the writer role."""

    def __init__(self, topic: MemoryTopic | None = None) -> None:
        self.topic = topic if topic is not None else MemoryTopic()
        self._position = 0
        self._epoch: int | None = None

    def open(self) -> None:
        self._position = 0

    def end_offset(self) -> int:
        return self.topic.end_offset

    def poll(self, timeout_s: float) -> LogBatch:
        entries, end = self.topic.read_from(self._position, timeout_s)
        self._position = end
        return LogBatch(tuple(entries), end)

    def claim_writer(self) -> None:
        if self._epoch is None:
            self._epoch = self.topic.claim()

    def append(self, records: Sequence[tuple[bytes, bytes | None]]) -> int:
        if self._epoch is None:
            raise RegistryApiError(ErrorCode.STORE_ERROR, "append without claiming the writer role")
        try:
            return self.topic.append(records, self._epoch)
        except WriterFencedError:
            self._epoch = None
            raise

    def close(self) -> None:
        self._epoch = None


def writer_id_for(topic: str) -> str:
    """The transactional.id every instance serving `topic` shares, so that a new writer fences the old."""
    return f"{WRITER_ID_PREFIX}.{topic}"


class KafkaRegistryLog:
    """`RegistryLog` on a Kafka topic: a read_committed consumer on partition 0 and a transactional producer.

    Builds no client until `open()` (reads) and the first `claim_writer()` (writes).
    """

    def __init__(
        self,
        connection: KafkaConnection,
        *,
        topic: str = SCHEMAS_TOPIC,
        writer_id: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._connection = connection
        self._topic = topic
        self._writer_id = writer_id or writer_id_for(topic)
        self._timeout_s = timeout_s
        self._partition = confluent_kafka.TopicPartition(topic, 0)
        self._consumer: confluent_kafka.Consumer | None = None
        self._offsets: confluent_kafka.Consumer | None = None
        self._offsets_lock = threading.Lock()
        self._producer: DurableProducer | None = None
        # librdkafka reports through Python logging (a fenced writer logs at ERROR there; it is expected).
        self._client_logger = logging.getLogger(f"{__name__}.librdkafka")

    @property
    def topic(self) -> str:
        return self._topic

    def open(self) -> None:
        # The tailer thread sits in consume() on the reader, and a watermark query on the same handle waits
        # behind it; so metadata and the end of the log are asked for on a second, unassigned consumer.
        offsets = self._offsets = self._new_consumer()
        try:
            partitions = self._partitions(offsets)
            if partitions == 0:
                self._create_topic()
                partitions = self._wait_for_partitions(offsets)
        except (KafkaError, confluent_kafka.KafkaException) as exc:
            self.close()
            raise RegistryApiError(ErrorCode.STORE_ERROR, f"cannot create or describe {self._topic}") from exc
        if partitions != 1:
            self.close()
            # Order across partitions is undefined; the registry's log must be one sequence.
            raise ConfigError(f"{self._topic} has {partitions} partitions; the registry needs exactly 1")
        consumer = self._new_consumer()
        consumer.assign([confluent_kafka.TopicPartition(self._topic, 0, confluent_kafka.OFFSET_BEGINNING)])
        self._consumer = consumer

    def _wait_for_partitions(self, client: confluent_kafka.Consumer) -> int:
        # A topic just created takes a moment to show up in the metadata every broker serves.
        deadline = time.monotonic() + self._timeout_s
        while (partitions := self._partitions(client)) == 0 and time.monotonic() < deadline:
            time.sleep(METADATA_RETRY_S)
        return partitions

    def _partitions(self, client: confluent_kafka.Consumer) -> int:
        """How many partitions the topic has; 0 when it does not exist."""
        metadata = client.list_topics(self._topic, timeout=self._timeout_s).topics.get(self._topic)
        if metadata is None or metadata.error is not None:
            return 0
        return len(metadata.partitions)

    def _new_consumer(self) -> confluent_kafka.Consumer:
        return confluent_kafka.Consumer({
            **self._connection.as_librdkafka_dict(),
            # A group id is mandatory, but with assign() the consumer never joins the group or commits:
            # every instance reads the whole log itself.
            "group.id": f"carebus-registry-reader-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "logger": self._client_logger,
        })

    def _create_topic(self) -> None:
        # Only when missing: the catalog's spec (one partition, compacted, kept forever). An existing topic is
        # left as it is; `carebus topics apply` is the way to bring its configs in line.
        apply_topics(self._connection, [replace(topic_spec(SCHEMAS_TOPIC), name=TopicName(self._topic))])
        logger.info("created the registry log topic %s", self._topic)

    def _require_consumer(self) -> confluent_kafka.Consumer:
        if self._consumer is None:
            raise RegistryApiError(ErrorCode.STORE_ERROR, f"the log {self._topic} is not open")
        return self._consumer

    def end_offset(self) -> int:
        offsets = self._offsets
        if offsets is None:
            raise RegistryApiError(ErrorCode.STORE_ERROR, f"the log {self._topic} is not open")
        deadline = time.monotonic() + self._timeout_s
        while True:
            try:
                with self._offsets_lock:
                    _low, high = offsets.get_watermark_offsets(self._partition, timeout=self._timeout_s,
                                                               cached=False)
                return int(high)
            except confluent_kafka.KafkaException as exc:
                # A new topic's leader, or a leader that just moved, answers "not leader" for a moment.
                if not _is_transient(exc) or time.monotonic() >= deadline:
                    raise RegistryApiError(ErrorCode.STORE_ERROR, f"cannot read the end of {self._topic}") from exc
            time.sleep(METADATA_RETRY_S)

    def poll(self, timeout_s: float) -> LogBatch:
        consumer = self._require_consumer()
        entries: list[LogEntry] = []
        for message in consumer.consume(num_messages=500, timeout=timeout_s):
            error = message.error()
            if error is None:
                entries.append(LogEntry(int(message.offset() or 0), message.key(), message.value()))
            elif error.code() != confluent_kafka.KafkaError._PARTITION_EOF:
                if error.fatal() or not error.retriable():
                    raise KafkaError(f"registry log reader error {error.name()} on {self._topic}[0]")
                logger.warning("transient registry log reader error %s on %s[0]", error.name(), self._topic)
        # The position passes control records (transaction markers) too, so it reaches the end offset.
        position = consumer.position([self._partition])[0].offset
        if position < 0:  # nothing fetched yet
            position = entries[-1].offset + 1 if entries else 0
        return LogBatch(tuple(entries), int(position))

    def claim_writer(self) -> None:
        if self._producer is not None:
            return
        producer = DurableProducer(
            self._connection,
            client_id="carebus-registry",
            transactional_id=self._writer_id,
            overrides={"transaction.timeout.ms": TRANSACTION_TIMEOUT_MS, "logger": self._client_logger},
        )
        try:
            producer.client  # noqa: B018 -- building the client runs init_transactions, which fences the others
        except confluent_kafka.KafkaException as exc:
            raise RegistryApiError(ErrorCode.STORE_ERROR, f"cannot become the writer of {self._topic}") from exc
        self._producer = producer
        logger.info("claimed the registry writer role for %s (%s)", self._topic, self._writer_id)

    def append(self, records: Sequence[tuple[bytes, bytes | None]]) -> int:
        if self._producer is None:
            raise RegistryApiError(ErrorCode.STORE_ERROR, "append without claiming the writer role")
        batch = [Record(self._topic, value=value, key=key, partition=0) for key, value in records]
        try:
            deliveries = self._producer.publish_atomically(batch, timeout_s=self._timeout_s)
        except (PublishError, confluent_kafka.KafkaException) as exc:
            # Whatever happened, this producer is done: the next write claims the role afresh, which also
            # settles a transaction whose outcome we did not learn.
            self._drop_producer()
            if _error_name(exc) in FENCED_ERRORS:
                raise WriterFencedError(self._topic) from exc
            raise RegistryApiError(ErrorCode.STORE_ERROR, f"write to {self._topic} failed") from exc
        return max(d.offset for d in deliveries) + 1

    def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.close(timeout_s=1.0)

    def close(self) -> None:
        self._drop_producer()
        for consumer in (self._consumer, self._offsets):
            if consumer is not None:
                consumer.close()
        self._consumer = self._offsets = None


def _is_transient(exc: confluent_kafka.KafkaException) -> bool:
    error = exc.args[0] if exc.args else None
    return isinstance(error, confluent_kafka.KafkaError) and (error.retriable() or error.code() in TRANSIENT_ERRORS)


def _error_name(exc: Exception) -> str:
    if isinstance(exc, PublishError):
        return exc.reason
    error = exc.args[0] if exc.args else None
    return error.name() if isinstance(error, confluent_kafka.KafkaError) else type(exc).__name__


# --- the store --------------------------------------------------------------------------------------------


class RegistryStore:
    """The state, kept current by a tailer thread, and the single-writer write protocol (module docstring)."""

    def __init__(
        self,
        log: RegistryLog,
        *,
        default_compatibility: CompatibilityLevel = DEFAULT_COMPATIBILITY,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        poll_timeout_s: float = POLL_TIMEOUT_S,
    ) -> None:
        self._log = log
        self._timeout_s = timeout_s
        # How long the tailer waits for records in one poll, and so how long close() may wait for it.
        self._poll_timeout_s = poll_timeout_s
        self._state = RegistryState(default_compatibility)
        self._applied = threading.Condition()  # guards _state and _applied_offset
        self._applied_offset = 0
        self._write_lock = threading.Lock()
        self._stopping = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def started(self) -> bool:
        return self._reader is not None and self._reader.is_alive()

    def start(self, *, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        """Open the log, replay it to its current end and keep tailing it. Raises if the replay times out."""
        if self._reader is not None:
            return
        self._log.open()
        self._stopping.clear()
        self._reader = threading.Thread(target=self._tail, name="carebus-registry-tailer", daemon=True)
        self._reader.start()
        try:
            replayed = self._wait_applied(self._log.end_offset(), timeout_s)
        except BaseException:
            self.close()
            raise
        if not replayed:
            self.close()
            raise RegistryApiError(ErrorCode.OPERATION_TIMEOUT, f"replaying the registry log took over {timeout_s}s")
        with self._applied:
            logger.info("registry log replayed to offset %d: %d subjects, max id %d",
                        self._applied_offset, len(self._state.subjects()), self._state.max_id)

    def close(self) -> None:
        self._stopping.set()
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.join(timeout=self._poll_timeout_s + self._timeout_s)
        self._log.close()

    def read(self, query: Callable[[RegistryState], T]) -> T:
        """Run `query` against the state as applied so far."""
        with self._applied:
            return query(self._state)

    def sync(self, timeout_s: float | None = None) -> bool:
        """Catch up with everything written to the log so far; False if that took longer than the timeout."""
        return self._wait_applied(self._log.end_offset(), self._timeout_s if timeout_s is None else timeout_s)

    def write(self, decide: Callable[[RegistryState], Decision[T]]) -> T:
        """Decide against the latest state and append the decision's records, as the only writer."""
        if not self.started:
            raise RegistryApiError(ErrorCode.STORE_ERROR, "the registry store is not running")
        with self._write_lock:
            for attempt in range(1, WRITE_ATTEMPTS + 1):
                self._log.claim_writer()
                # Only now, holding the role, is the end of the log final until our own append.
                if not self.sync():
                    raise RegistryApiError(ErrorCode.OPERATION_TIMEOUT, "timed out reading the registry log")
                with self._applied:
                    decision = decide(self._state)
                if not decision.records:
                    return decision.result
                try:
                    end = self._log.append([encode_record(r) for r in decision.records])
                except WriterFencedError:
                    logger.info("another registry instance took the writer role; retrying (attempt %d)", attempt)
                    continue
                if not self._wait_applied(end, self._timeout_s):
                    raise RegistryApiError(ErrorCode.OPERATION_TIMEOUT, "timed out waiting for a registry write")
                return decision.result
        raise RegistryApiError(ErrorCode.STORE_ERROR, f"lost the writer role {WRITE_ATTEMPTS} times in a row")

    def _wait_applied(self, offset: int, timeout_s: float) -> bool:
        with self._applied:
            return self._applied.wait_for(lambda: self._applied_offset >= offset, timeout_s)

    def _tail(self) -> None:
        while not self._stopping.is_set():
            try:
                batch = self._log.poll(self._poll_timeout_s)
            except (KafkaError, RegistryApiError, confluent_kafka.KafkaException) as exc:
                logger.warning("reading the registry log failed (%s); retrying", type(exc).__name__)
                self._stopping.wait(READER_BACKOFF_S)
                continue
            with self._applied:
                for entry in batch.entries:
                    self._apply(entry)
                self._applied_offset = max(self._applied_offset, batch.next_offset)
                self._applied.notify_all()

    def _apply(self, entry: LogEntry) -> None:
        try:
            record = decode_record(entry.key, entry.value)
        except (ValueError, KeyError, TypeError):
            logger.warning("skipping an undecodable registry record at offset %d", entry.offset)
            return
        if record is None:
            logger.debug("skipping a registry record of unknown type at offset %d", entry.offset)
            return
        self._state.apply(record)
