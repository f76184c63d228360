"""The faust App factory for carebus stream processors.

`build_app()` takes every setting as an argument and never reads the environment (faust itself
would read `BROKER_URL`, `APP_DATADIR` and friends from `os.environ`; it gets an empty `env`).
Defaults suit a 2-core machine and a small cluster: few partitions, in-memory tables, no web server.

faust-streaming 0.15.3 + aiokafka 0.14.0 talk to Apache Kafka 4.1 without any change. What needs
fixing is faust itself, in five places, none of them specific to Kafka 4.1. The fixes are
subclasses of faust's own classes, installed through faust's settings and `App` hooks (no global
monkeypatching): fix 0 for every app, fixes 1-4 only with `processing_guarantee="exactly_once"`.

0. Restart with a non-empty table: when the changelog replay ends, `Recovery.on_recovery_completed`
   resumes the source partitions and only then awaits the seek to the committed offsets, while the
   stream flow is already running (it was resumed for the replay). Records fetched in that window
   are processed, then the seek rewinds and fetches them again. Seen here: of 6 records waiting
   in the source at restart, 2 were processed twice and 1 never (acked, committed, no output).
   Fix: stop the consumer flow before that step; faust's own code resumes it after the seek.
   Upstream: the same race without tables was faust-streaming/faust#216, fixed for
   `Recovery._resume_streams` only by PR #217; related open report: faust-streaming/faust#596.

1. Records sent to a topic the app does not consume (every ordinary output topic) bypass the
   transaction. faust's `TransactionManager.send` picks the transactional producer from the
   *destination* partition, looked up in the consumer's metadata; the consumer has no metadata
   for topics it does not subscribe to, so `key_partition()` returns None, no transactional id is
   chosen and the record goes through the plain idempotent producer: visible at once to
   read_committed consumers and written again after a crash. (Had the lookup succeeded,
   `group_for_topic()` would raise KeyError for the unsubscribed topic.) Fix: a record sent while
   an agent handles an event joins the transaction of that event's source partition, the one
   that commits its offset. Upstream: faust-streaming/faust#177 (open since 2021),
   robinhood/faust#339.
2. Table changelog writes wait in faust's `ProducerBuffer` (`Table.__setitem__` is synchronous);
   the exactly-once commit does not drain that buffer (only the at-least-once path flushes the
   producer), so an offset can commit in one transaction while its changelog record lands in the
   next one. A crash in between loses the table update. Fix: drain the buffer, including the
   message being handed over, before every transactional commit. Upstream: robinhood/faust#340
   ("Table counter missing events when exactly once is enabled and the process is ... kill -9").
3. The periodic commit runs in its own task and can fire while an agent is half-way through an
   event (after its output was sent, before it was acked), or while one partition's transaction
   is committing and agents keep writing into another partition's transaction whose offsets were
   already computed. Either way a transaction commits output without the offset of the event
   that produced it, and a crash replays that event: a duplicate for read_committed consumers.
   Fix: a commit gate. Events pass the gate one by one (acked before they leave it); a commit
   closes the gate, waits until no event is in flight, then drains, computes offsets and commits.
   Upstream symptom: faust-streaming/faust#517 ("Duplicate messages despite exactly_once").
4. A source topic written by transactions (any topic one exactly-once app writes and another stage
   reads: carebus's identity and normalized topics) has offset gaps: every commit or abort marker
   takes an offset no consumer ever sees. faust's gap bookkeeping gets these wrong. On a jump from
   offset r to o it records the gap as r+1..o, *including o*, the record about to be processed, so
   o counts as acked before it is handled; when o is then acked it is in the acked list twice, and
   `_new_offset` (which commits the first run of consecutive offsets) stops at the duplicate. The
   committed offset falls behind what was processed, while the transaction commits the output of
   everything processed: after a crash that output is produced and committed again, a duplicate for
   read_committed consumers (seen here: 30 to 400 duplicates per SIGKILL). Fix: commit one past the
   highest acked offset and keep no gaps. That is exact because an agent (concurrency 1) handles a
   partition's records in order, so every record below an acked one has been handled, and markers
   need no handling. Upstream: faust-streaming/faust#606 (open), robinhood/faust#625, PR #707.

Known limits, not fixed here:
- Fix 4 assumes in-order handling per partition: agents with `concurrency` > 1 on an exactly-once app
  would need faust's gap tracking back (and its bug fixed).
- An exactly-once restart with a non-empty changelog spends at least 10 s in recovery: the
  changelog ends in a transaction marker that never arrives as a record, and faust's recovery
  only concludes "aborted/control records up to the highwater" after two 5 s idle timeouts
  (`Recovery._slurp_changelogs`, `detect_aborted_tx`; background: faust-streaming/faust#47).
- The gate covers per-event iteration (`async for event in stream.events()` / `async for value in
  stream`). `Stream.take()` and friends buffer several events under `enable_acks=False`; such
  batches are not gated.
- An agent that raises mid-event: faust acks the event (`stream_ack_exceptions`), as it does
  without these fixes.

Kafka 4.1 itself needs nothing: aiokafka 0.14 speaks the transaction APIs at v0 (InitProducerId,
AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn), which 4.1 still serves. The broker
finalizes `transaction.version=2`, but a client on EndTxn below v5 keeps the classic (TV0/TV1)
protocol; apache/kafka `EndTxnRequest.json`: "Version 5 enables bumping epoch on every
transaction (KIP-890 Part 2)".
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import faust
from faust.streams import current_event
from faust.tables import TableManager
from faust.tables.recovery import Recovery
from faust.transport.consumer import TransactionManager
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.producer import ProducerBuffer
from faust.types import HeadersArg
from faust.types.enums import ProcessingGuarantee
from faust.types.transports import TransportT
from faust.types.tuples import TP, ack_lock

from carebus.errors import ConfigError

__all__ = [
    "AT_LEAST_ONCE",
    "DEFAULT_TOPIC_PARTITIONS",
    "EXACTLY_ONCE",
    "CarebusApp",
    "CommitGate",
    "broker_urls",
    "build_app",
]

AT_LEAST_ONCE = "at_least_once"
EXACTLY_ONCE = "exactly_once"
DEFAULT_TOPIC_PARTITIONS = 4
DEFAULT_COMMIT_GATE_TIMEOUT_S = 10.0
_GUARANTEES = frozenset({AT_LEAST_ONCE, EXACTLY_ONCE})
_ROCKSDB_MODULES = ("rocksdict", "rocksdb")


def broker_urls(broker: str) -> list[str]:
    """`host:port[,host:port...]` (or `kafka://...` URLs) as the list of URLs faust expects."""
    urls = []
    for raw in broker.replace(";", ",").split(","):
        entry = raw.strip()
        if entry:
            urls.append(entry if "://" in entry else f"kafka://{entry}")
    if not urls:
        raise ConfigError("broker: no bootstrap server given")
    return urls


def _check_store(store: str) -> str:
    scheme = store.split("://", 1)[0]
    if scheme == "memory":
        return store
    if scheme == "rocksdb":
        if not any(importlib.util.find_spec(module) for module in _ROCKSDB_MODULES):
            raise ConfigError("store rocksdb:// needs the 'rocksdict' package, which is not installed")
        return store
    raise ConfigError(f"store {store!r}: use memory:// or rocksdb://")


class CommitGate:
    """Lets a transactional commit happen only between events, never in the middle of one.

    Agents `enter()` before handling an event and `leave()` once it is handled and acked. A commit
    `close()`s the gate (new events wait), waits until no event is in flight, commits, and
    `open()`s it again. Everything runs on the app's event loop.
    """

    def __init__(self) -> None:
        self._in_flight = 0
        self._open = asyncio.Event()
        self._open.set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def enter(self) -> None:
        while not self._open.is_set():
            await self._open.wait()
        self._in_flight += 1
        self._idle.clear()

    def leave(self) -> None:
        self._in_flight -= 1
        if self._in_flight == 0:
            self._idle.set()

    def close(self) -> None:
        self._open.clear()

    def open(self) -> None:
        self._open.set()

    async def wait_idle(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True


class _GatedStream(faust.Stream):
    """A stream whose events pass the app's commit gate, acked before they leave it (fix 3)."""

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._gated(super().__aiter__())

    async def _gated(self, inner: AsyncIterator[Any]) -> AsyncIterator[Any]:
        gate: CommitGate = self.app.commit_gate  # type: ignore[attr-defined]
        async for value in inner:
            await gate.enter()
            try:
                yield value
            except BaseException:
                gate.leave()  # faust's own iterator decides about the ack on errors and close
                raise
            event = self.current_event
            if event is not None and self.enable_acks:
                event.ack()  # before the gate opens for a commit; faust's later ack is a no-op
            gate.leave()


class _DrainableProducerBuffer(ProducerBuffer):
    """faust's buffer of pending sends, which can also wait for the message being handed over."""

    _handing_over = 0

    async def _send_pending(self, fut: Any) -> None:
        self._handing_over += 1
        try:
            await super()._send_pending(fut)
        finally:
            self._handing_over -= 1

    async def drain(self, timeout_s: float) -> bool:
        """Wait until every buffered message has been handed to its (transactional) producer."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.size or self._handing_over:
            self.message_sent.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self.message_sent.wait(), remaining)
            except TimeoutError:
                return False
        return True


class _EosProducer(faust_aiokafka.Producer):
    def __init__(self, transport: TransportT, **kwargs: Any) -> None:
        super().__init__(transport, **kwargs)
        buffer = _DrainableProducerBuffer(loop=self.loop, beacon=self.beacon)
        buffer.app = self.app
        self.buffer = buffer


class _EosTransactionManager(TransactionManager):
    async def send(  # noqa: PLR0917 - faust's signature
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: HeadersArg | None,
        *,
        transactional_id: str | None = None,
    ) -> Any:
        """Send inside the transaction of the source partition of the event being handled (fix 1)."""
        event = current_event()
        if event is not None:
            source = event.message
            try:
                group = self.app.assignor.group_for_topic(source.topic)
            except KeyError:
                group = None
            if group is not None:
                if partition is None:
                    partition = self.consumer.key_partition(topic, key)  # None: the producer picks
                return await self.producer.send(
                    topic, key, value, partition, timestamp, headers,
                    transactional_id=f"{self.app.conf.id}-{group}-{source.partition}",
                )
        # Outside an event (the changelog buffer's own task, timers): faust's rule, which holds
        # for changelogs because they are co-partitioned with their source topic.
        return await super().send(topic, key, value, partition, timestamp, headers)


class _EosConsumer(faust_aiokafka.Consumer):
    def _new_offset(self, tp: TP) -> int | None:
        """One past the highest acked offset of `tp`, or None when nothing new was acked (fix 4)."""
        with ack_lock:
            acked = self._acked[tp]
            if not acked:
                return None
            offset = max(acked) + 1
            acked.clear()
            self._acked_index[tp].clear()
            self._gap.pop(tp, None)
            return offset

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        """Offset gaps (transaction markers, compaction) need no bookkeeping with fix 4."""

    async def force_commit(self, topics: Any = None, start_new_transaction: bool = True) -> bool:
        """Commit only between events, after the changelog buffer is drained (fixes 2 and 3)."""
        app: CarebusApp = self.app  # type: ignore[assignment]
        gate = app.commit_gate
        gate.close()
        try:
            if not await gate.wait_idle(app.commit_gate_timeout_s):
                self.log.warning("commit skipped: %d event(s) still in flight after %.1fs",
                                 gate.in_flight, app.commit_gate_timeout_s)
                return False
            buffer = app.producer.buffer
            if isinstance(buffer, _DrainableProducerBuffer) and not await buffer.drain(
                    app.commit_gate_timeout_s):
                self.log.warning("commit skipped: the producer buffer did not drain")
                return False
            return await super().force_commit(topics, start_new_transaction=start_new_transaction)
        finally:
            gate.open()


class _EosTransport(faust_aiokafka.Transport):
    Consumer = _EosConsumer
    Producer = _EosProducer
    TransactionManager = _EosTransactionManager


class _Recovery(Recovery):
    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        """Hold the flow while faust resumes the source partitions and seeks them (fix 0)."""
        self.app.consumer.stop_flow()  # a fetch already under way is dropped and re-seeked by faust
        await super().on_recovery_completed(generation_id)


class _TableManager(TableManager):
    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = _Recovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery


class CarebusApp(faust.App):
    """A faust App; with exactly-once it runs on the fixed transport above."""

    commit_gate: CommitGate
    commit_gate_timeout_s: float = DEFAULT_COMMIT_GATE_TIMEOUT_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.commit_gate = CommitGate()
        super().__init__(*args, **kwargs)

    def _eos(self) -> bool:
        return self.conf.processing_guarantee == ProcessingGuarantee.EXACTLY_ONCE

    def _new_transport(self) -> TransportT:
        if self._eos():
            return _EosTransport(self.conf.broker_consumer, self)
        return super()._new_transport()

    def _new_producer_transport(self) -> TransportT:
        if self._eos():
            return _EosTransport(self.conf.broker_producer, self)
        return super()._new_producer_transport()


def build_app(
    name: str,
    *,
    broker: str,
    processing_guarantee: str = AT_LEAST_ONCE,
    topic_partitions: int = DEFAULT_TOPIC_PARTITIONS,
    replication_factor: int = 1,
    standby_replicas: int = 1,
    store: str = "memory://",
    datadir: Path | str | None = None,
    web_port: int | None = None,
    commit_interval_s: float = 2.8,
    commit_every: int | None = None,
    session_timeout_s: float | None = None,
    consumer_auto_offset_reset: str = "earliest",
    producer_linger_s: float | None = None,
) -> CarebusApp:
    """A faust App named `name`: also its consumer group and the prefix of its internal topics.

    - `broker`: bootstrap servers, `host:port[,host:port]`.
    - `processing_guarantee`: `at_least_once` or `exactly_once`. Exactly-once uses one Kafka
      transaction per source partition (transactional id `<name>-<group>-<partition>`); the
      cluster's transaction state topic needs a replication factor it can meet.
    - `topic_partitions`: partitions of the topics faust creates (changelogs); must match the
      source topics a table is keyed by.
    - `store`: `memory://` (tables are rebuilt from their changelog at every start) or
      `rocksdb://` when the `rocksdict` package is installed.
    - `datadir`: where faust keeps its per-app folder; faust's default is `<name>-data` under
      the current directory.
    - `web_port`: None disables faust's web server; a port serves it on 127.0.0.1.
    - `commit_interval_s` / `commit_every`: commit (and, with exactly-once, end the transaction)
      every so many seconds / after so many acked events.
    - `producer_linger_s`: how long the producer waits to batch records into one request (faust's
      default is 0: one produce request per record).
    - `session_timeout_s`: how long the group waits for a worker that died without leaving
      before it hands its partitions to another (faust's default is 60 s; the broker's
      `group.min.session.timeout.ms` floor is 6 s by default). Heartbeats go at a third of it.
    """
    if processing_guarantee not in _GUARANTEES:
        raise ConfigError(f"processing_guarantee {processing_guarantee!r}: use one of {sorted(_GUARANTEES)}")
    if topic_partitions < 1 or replication_factor < 1 or standby_replicas < 0:
        raise ConfigError("topic_partitions and replication_factor must be >= 1, standby_replicas >= 0")
    settings: dict[str, Any] = {
        "broker": broker_urls(broker),
        "env": {},
        "autodiscover": False,
        "processing_guarantee": processing_guarantee,
        "topic_partitions": topic_partitions,
        "topic_replication_factor": replication_factor,
        "table_standby_replicas": standby_replicas,
        "store": _check_store(store),
        "broker_commit_interval": commit_interval_s,
        "consumer_auto_offset_reset": consumer_auto_offset_reset,
        "web_enabled": web_port is not None,
        "TableManager": _TableManager,
    }
    if commit_every is not None:
        settings["broker_commit_every"] = commit_every
    if producer_linger_s is not None:
        settings["producer_linger"] = producer_linger_s
    if session_timeout_s is not None:
        settings["broker_session_timeout"] = session_timeout_s
        settings["broker_heartbeat_interval"] = min(3.0, session_timeout_s / 3)
    if web_port is not None:
        settings.update(web_port=web_port, web_bind="127.0.0.1", web_host="127.0.0.1")
    if datadir is not None:
        settings["datadir"] = str(datadir)
    if processing_guarantee == EXACTLY_ONCE:
        settings["Stream"] = _GatedStream
    return CarebusApp(name, **settings)

