"""The faust app: topics, tables and agents. Each agent is an `async for` loop over `processors.steps`.

    intake        canonical.<d>.v1        -> <app>-identity          table `dedupe` (co-partitioned with the source)
    resolve       <app>-identity          -> normalized.<d>.v1       tables `links`, `people`, `merges` (1 partition)
    route         normalized.<d>.v1       -> subscriber topics, <app>-routing-retry-1
    route_retry_n <app>-routing-retry-<n> -> subscriber topics, <app>-routing-retry-<n+1>, deadletter.routing

With `exactly_once` (the default) every record an agent sends and every table write joins the Kafka
transaction of the source partition whose offset it commits (processors.app's fixes), so a crash anywhere
replays a partition from its last commit with none of the uncommitted output visible to read_committed readers.

A step that raises `TransientError` (the registry unreachable) is retried in place with backoff; after
`transient_limit_s` the worker exits (code 75) without committing, and its uncommitted work is redone by
whichever worker takes over.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import faust
from faust.types import StreamT

from carebus.publishing import DEADLETTER_HEADER_REASON
from carebus.serde import RegistryPort
from processors import steps
from processors.app import CarebusApp, build_app
from processors.codec import EventCodec
from processors.config_files import ConfigFiles
from processors.dedupe import expired
from processors.errors import TransientError
from processors.metrics import ProcessorMetrics, source_label
from processors.options import ProcessorOptions
from processors.records import InRecord, OutRecord, header
from processors.retry import wait_s
from processors.topic_directory import TopicDirectory

__all__ = ["build_processor_app"]

logger = logging.getLogger(__name__)

RAW: Final[Mapping[str, Any]] = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw",
                                 "value_serializer": "raw"}
_BACKOFF_S: Final = (0.5, 1.0, 2.0, 5.0, 10.0)
EXIT_DEPENDENCY_DOWN: Final = 75  # EX_TEMPFAIL
_T = TypeVar("_T")


def build_processor_app(options: ProcessorOptions, *, registry: RegistryPort, metrics: ProcessorMetrics,
                        config_files: ConfigFiles | None = None,
                        directory: TopicDirectory | None = None) -> CarebusApp:
    """The processors as one faust app. Loads the operator's files now, so a bad file fails the start."""
    topology = options.topology
    app = build_app(topology.app_id, broker=options.broker, processing_guarantee=options.guarantee,
                    topic_partitions=topology.partitions, replication_factor=options.replication_factor,
                    standby_replicas=options.standby_replicas, store=options.store, datadir=options.datadir,
                    web_port=options.web_port, commit_interval_s=options.commit_interval_s,
                    session_timeout_s=options.session_timeout_s, producer_linger_s=options.linger_s)
    files = config_files or ConfigFiles(options.config_dir, check_every_s=options.config_check_every_s,
                                        on_reload=lambda part, outcome: metrics.config_reloads.labels(part,
                                                                                                      outcome).inc())
    files.load()
    codec = EventCodec(registry, canonical_topic=topology.canonical, normalized_topic=topology.normalized)
    topics = directory or TopicDirectory({"bootstrap.servers": options.broker},
                                         min_interval_s=options.topic_refresh_s)
    outbox = _Outbox(app)
    retry_attempts = {topic: str(n) for n, topic in enumerate(topology.retry_topics, start=1)}
    retry_guard = _TransientGuard(metrics, limit_s=options.transient_limit_s)
    window_s = options.dedupe_window_s

    canonical = app.topic(*topology.canonical_topics, **RAW)
    identity = app.topic(topology.identity, partitions=1, internal=True, **RAW)
    normalized = app.topic(*topology.normalized_topics, **RAW)
    dedupe = app.Table("dedupe", partitions=topology.partitions, extra_topic_configs={
        "cleanup.policy": "compact,delete", "retention.ms": str(int(window_s * 1000))})
    links = app.Table("links", partitions=1)
    people = app.Table("people", partitions=1)
    merges = app.Table("merges", partitions=1)
    tables = {"dedupe": dedupe, "links": links, "people": people, "merges": merges}
    view = _IndexView(links, people, merges)

    async def carry_out(result: steps.StepResult, stage: str) -> None:
        for table, key, value in result.writes:
            tables[table][key] = value
        for out in result.outputs:
            await outbox.send(out)
        _count(metrics, stage, result, known_sources=files.current().catalog.by_system, retry_attempts=retry_attempts)

    @app.agent(canonical, name="intake")
    async def intake(stream: StreamT) -> None:
        async for event in stream.events():
            record = _in_record(event)
            rules = files.current()
            result = await retry_guard.run("normalize", lambda r=record, rules=rules: steps.intake(
                r, domain=topology.domain_of(r.topic), codec=codec, rules=rules, seen=dedupe,
                now_ms=_now_ms(), window_s=window_s, topology=topology))
            await carry_out(result, "intake")

    @app.agent(identity, name="resolve")
    async def resolve(stream: StreamT) -> None:
        async for event in stream.events():
            record = _in_record(event)
            rules = files.current()
            result = await retry_guard.run("identity", lambda r=record, rules=rules: steps.resolve(
                r, codec=codec, rules=rules, view=view, topology=topology, now_ms=_now_ms()))
            await carry_out(result, "identity")

    @app.agent(normalized, name="route")
    async def route(stream: StreamT) -> None:
        async for event in stream.events():
            record = _in_record(event)
            rules = files.current()
            result = await retry_guard.run("routing", lambda r=record, rules=rules: steps.route(
                r, domain=topology.domain_of(r.topic), codec=codec, rules=rules, topic_exists=topics.exists,
                topology=topology, now_ms=_now_ms()))
            await carry_out(result, "routing")

    for attempt, retry_topic in enumerate(topology.retry_topics, start=1):
        _retry_agent(app, attempt, app.topic(retry_topic, partitions=topology.partitions, internal=True, **RAW),
                     options=options, topics=topics, carry_out=carry_out)

    @app.timer(options.topic_refresh_s)
    async def refresh_topics() -> None:
        await topics.refresh()

    @app.timer(max(1.0, min(60.0, window_s / 4)))
    async def purge_dedupe() -> None:
        """Forget expired dedupe entries in memory; the changelog's retention forgets them on the broker."""
        now_ms = _now_ms()
        store = dedupe.data
        for key, entry in list(store.items()):
            if expired(entry, now_ms=now_ms, window_s=window_s):
                store.pop(key, None)

    return app


def _retry_agent(app: CarebusApp, attempt: int, topic: faust.TopicT, *, options: ProcessorOptions,
                 topics: TopicDirectory, carry_out: Callable[[steps.StepResult, str], Any]) -> None:
    topology = options.topology

    async def route_retry(stream: StreamT) -> None:
        async def hold_until_due(value: Any) -> Any:
            # A stream processor runs before the event enters the commit gate, so waiting here does not
            # hold back commits of other partitions.
            event = stream.current_event
            if event is not None:
                await asyncio.sleep(wait_s(attempt, topology.retry_delays_s,
                                           written_at_ms=int(event.message.timestamp * 1000), now_ms=_now_ms()))
            await topics.refresh()
            return value

        stream.add_processor(hold_until_due)
        async for event in stream.events():
            result = steps.retry_route(_in_record(event), attempt=attempt, topic_exists=topics.exists,
                                       topology=topology, now_ms=_now_ms())
            await carry_out(result, "routing")

    app.agent(topic, name=f"route_retry_{attempt}")(route_retry)


class _IndexView:
    """The enterprise index's tables as the `IdentityView` the identity step reads."""

    def __init__(self, links: Mapping[str, str], people: Mapping[str, str], merges: Mapping[str, str]) -> None:
        self._links, self._people, self._merges = links, people, merges

    def linked(self, key: str) -> str | None:
        return self._links.get(key)

    def person(self, key: str) -> str | None:
        return self._people.get(key)

    def replaced_by(self, enterprise_id: str) -> str | None:
        return self._merges.get(enterprise_id)


class _Outbox:
    """Sends OutRecords through faust (inside the current event's transaction), one topic object per name."""

    def __init__(self, app: CarebusApp) -> None:
        self._app = app
        self._topics: dict[str, faust.TopicT] = {}

    async def send(self, out: OutRecord) -> None:
        topic = self._topics.get(out.topic)
        if topic is None:
            topic = self._topics[out.topic] = self._app.topic(out.topic, **RAW)
        await topic.send(key=out.key, value=out.value, headers=list(out.headers))


class _TransientGuard:
    """Retries a step that raised TransientError with backoff; past the limit, stops the worker."""

    def __init__(self, metrics: ProcessorMetrics, *, limit_s: float) -> None:
        self._metrics = metrics
        self._limit_s = limit_s

    async def run(self, stage: str, step: Callable[[], _T]) -> _T:
        started = time.monotonic()
        for attempt in range(1_000_000):
            try:
                return step()
            except TransientError as exc:
                self._metrics.transient_failures.labels(stage).inc()
                waited = time.monotonic() - started
                if waited >= self._limit_s:
                    # Exit at once: a normal shutdown would ack the event and commit past it. Whatever this
                    # worker has not committed is aborted and redone by the next owner of its partitions.
                    logger.error("stage %s: %s for %.0fs; stopping the worker (exit %d)", stage, exc.reason,
                                 waited, EXIT_DEPENDENCY_DOWN)
                    for handler in logging.getLogger().handlers:
                        handler.flush()
                    os._exit(EXIT_DEPENDENCY_DOWN)
                delay = _BACKOFF_S[min(attempt, len(_BACKOFF_S) - 1)]
                logger.warning("stage %s: %s (%s); retrying in %.1fs", stage, exc.reason, exc.detail, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _in_record(event: faust.EventT) -> InRecord:
    message = event.message
    raw_headers = message.headers or ()
    items = raw_headers.items() if isinstance(raw_headers, Mapping) else raw_headers
    return InRecord(topic=message.topic, partition=message.partition, offset=message.offset, key=message.key,
                    value=message.value, headers=tuple((str(k), bytes(v)) for k, v in items),
                    timestamp_ms=int(message.timestamp * 1000))


def _count(metrics: ProcessorMetrics, stage: str, result: steps.StepResult, *, known_sources: Mapping[str, Any],
           retry_attempts: Mapping[str, str]) -> None:
    metrics.events.labels(stage, result.domain, result.outcome).inc()
    source = source_label(result.source or "", known_sources)
    if result.outcome == "duplicate":
        metrics.duplicates.labels(result.domain, result.reason or "").inc()
    for finding in result.findings:
        metrics.unmapped.labels(result.domain, finding.table, source).inc()
    if result.mapped:
        metrics.mapped.labels(result.domain, source).inc(result.mapped)
    if stage == "identity" and result.outcome == "passed":
        metrics.identity.labels(result.reason or "").inc()
    for out in result.outputs:
        dead_stage = out.topic.rpartition("deadletter.")[2] if "deadletter." in out.topic else None
        if dead_stage is not None:
            metrics.dead_letters.labels(dead_stage, header(out.headers, DEADLETTER_HEADER_REASON) or "").inc()
        elif out.topic in retry_attempts:
            metrics.retries.labels(retry_attempts[out.topic]).inc()
        elif stage == "routing":
            metrics.routed.labels(result.domain, "delivered").inc()
