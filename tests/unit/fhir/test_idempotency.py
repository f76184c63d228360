"""The in-memory idempotency store: keys, resources, expiry and the guard."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from producers.fhir.idempotency import BeginState, InMemoryIdempotencyStore, KnownResource, StoredReply

AT = datetime(2024, 3, 14, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _resource(resource_id: str, *identifiers: tuple[str, str], version: int = 1) -> KnownResource:
    return KnownResource("Patient", resource_id, version, AT, identifiers, b"{}")


def test_key_lifecycle_replay_mismatch_and_expiry() -> None:
    clock = Clock()
    store = InMemoryIdempotencyStore(ttl_s=60, monotonic=clock)

    async def run() -> None:
        assert (await store.begin("k", "fp1")).state is BeginState.NEW
        assert (await store.begin("k", "fp1")).state is BeginState.IN_FLIGHT
        assert (await store.begin("k", "fp2")).state is BeginState.MISMATCH
        await store.finish("k", StoredReply(201, {"Location": "x"}, b"body"))
        replay = await store.begin("k", "fp1")
        assert replay.state is BeginState.REPLAY and replay.reply == StoredReply(201, {"Location": "x"}, b"body")
        clock.now += 61
        assert (await store.begin("k", "fp2")).state is BeginState.NEW
        await store.abandon("k")
        assert (await store.begin("k", "fp3")).state is BeginState.NEW

    asyncio.run(run())


def test_resources_by_identifier_and_id() -> None:
    clock = Clock()
    store = InMemoryIdempotencyStore(ttl_s=60, max_entries=2, monotonic=clock)

    async def run() -> None:
        await store.remember([_resource("a", ("urn:mrn", "1")), _resource("b", ("urn:other", "1"))])
        assert [item.id for item in await store.find("Patient", "urn:mrn", "1")] == ["a"]
        assert [item.id for item in await store.find("Patient", None, "1")] == ["a", "b"]
        assert await store.find("Encounter", None, "1") == []
        await store.remember([_resource("a", ("urn:mrn", "2"), version=2)])  # re-indexed on update
        assert await store.find("Patient", "urn:mrn", "1") == []
        assert (await store.known("Patient", "a")).version == 2  # type: ignore[union-attr]
        await store.remember([_resource("c")])  # max_entries=2: the oldest goes
        assert await store.known("Patient", "b") is None
        clock.now += 61
        assert await store.known("Patient", "a") is None

    asyncio.run(run())


def test_guard_serializes_the_same_key_only() -> None:
    store = InMemoryIdempotencyStore()
    order: list[str] = []

    async def hold(name: str, keys: list[str], pause: float) -> None:
        async with store.guard(keys):
            order.append(f"{name}+")
            await asyncio.sleep(pause)
            order.append(f"{name}-")

    async def run() -> None:
        await asyncio.gather(hold("a", ["Patient/1", "Patient?x"], 0.05), hold("b", ["Patient/1"], 0.0),
                             hold("c", ["Encounter/9"], 0.0))

    asyncio.run(run())
    assert order.index("a-") < order.index("b+")  # b waited for a
    assert order.index("c+") < order.index("a-")  # c did not
    assert store._locks == {}  # nothing left behind


def test_a_cancelled_waiter_does_not_release_the_holders_lock() -> None:
    store = InMemoryIdempotencyStore()

    async def run() -> None:
        async with store.guard(["k"]):
            waiter = asyncio.create_task(_enter(store))
            await asyncio.sleep(0.01)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            assert store._locks["k"][0].locked()
        assert store._locks == {}

    asyncio.run(run())


async def _enter(store: InMemoryIdempotencyStore) -> None:
    async with store.guard(["k"]):
        pass


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        InMemoryIdempotencyStore(ttl_s=0)
