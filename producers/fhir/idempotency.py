"""The idempotency store: a port, and its in-memory adapter.

It remembers, for a while, what this server has done, so that a retry does not publish twice:

- `Idempotency-Key` requests: the key (scoped to the client), a fingerprint of the request, and the response.
  `begin` answers NEW (go ahead; the key is now in flight), REPLAY (same request: here is its response),
  MISMATCH (same key, different request) or IN_FLIGHT (the first one has not finished). `finish` stores the
  response; `abandon` forgets the key after a failure the client should retry (the publish did not happen).
- Resources created or updated through this server: type, id, version, identifiers and the echoed body, for
  `If-None-Exist` / conditional update (`find`) and version numbers and `If-Match` (`known`).
- `guard(keys)`: an async context manager that serializes requests touching the same resource or the same
  conditional criteria, so two concurrent conditional creates cannot both publish. Requests on other keys run
  (and group-commit) concurrently.

`InMemoryIdempotencyStore` keeps all of this in this process, for `ttl_s` seconds and at most `max_entries`
entries per table (oldest evicted first). Its limits are those of any per-process memory: several replicas
behind a load balancer do not see each other's keys or resources (route a client to one replica, or put the
port on a shared store: Redis, a database, a compacted topic), a restart forgets everything, and a retry that
comes after `ttl_s` is treated as new. It holds echoed resources, which are PHI, in memory only.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final, Protocol

__all__ = [
    "DEFAULT_MAX_ENTRIES",
    "DEFAULT_TTL_S",
    "Begin",
    "BeginState",
    "IdempotencyStore",
    "InMemoryIdempotencyStore",
    "KnownResource",
    "StoredReply",
]

DEFAULT_TTL_S: Final = 24 * 60 * 60.0
DEFAULT_MAX_ENTRIES: Final = 100_000


@dataclass(frozen=True)
class StoredReply:
    """A response as it was sent: replayed verbatim for the same key and request."""

    status: int
    headers: Mapping[str, str]
    body: bytes = field(repr=False)


class BeginState(StrEnum):
    NEW = "new"
    REPLAY = "replay"
    MISMATCH = "mismatch"
    IN_FLIGHT = "in-flight"


@dataclass(frozen=True)
class Begin:
    state: BeginState
    reply: StoredReply | None = None


@dataclass(frozen=True)
class KnownResource:
    """A resource this server created or updated, as it answered for it."""

    resource_type: str
    id: str
    version: int
    last_updated: datetime
    identifiers: tuple[tuple[str, str], ...] = ()
    """(system or "", value) of each Identifier with a value."""
    body: bytes = field(default=b"", repr=False)
    """The resource as echoed (with id and meta)."""


class IdempotencyStore(Protocol):
    async def begin(self, key: str, fingerprint: str) -> Begin: ...

    async def finish(self, key: str, reply: StoredReply) -> None: ...

    async def abandon(self, key: str) -> None: ...

    async def find(self, resource_type: str, system: str | None, value: str) -> Sequence[KnownResource]:
        """Resources of `resource_type` with an identifier `value` (in `system`; any system when None)."""
        ...

    async def known(self, resource_type: str, resource_id: str) -> KnownResource | None: ...

    async def remember(self, resources: Sequence[KnownResource]) -> None: ...

    def guard(self, keys: Collection[str]) -> AbstractAsyncContextManager[None]: ...


@dataclass
class _Key:
    fingerprint: str
    reply: StoredReply | None
    at: float


class InMemoryIdempotencyStore:
    """The store in this process's memory (see the module docstring for what that limits)."""

    def __init__(self, *, ttl_s: float = DEFAULT_TTL_S, max_entries: int = DEFAULT_MAX_ENTRIES,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if ttl_s <= 0 or max_entries <= 0:
            raise ValueError("ttl_s and max_entries must be positive")
        self._ttl_s = ttl_s
        self._max = max_entries
        self._now = monotonic
        self._keys: OrderedDict[str, _Key] = OrderedDict()
        self._resources: OrderedDict[tuple[str, str], tuple[float, KnownResource]] = OrderedDict()
        self._by_value: dict[tuple[str, str], set[tuple[str, str]]] = {}
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    # --- idempotency keys ---------------------------------------------------------------------------------

    def _expire(self) -> None:
        horizon = self._now() - self._ttl_s
        while self._keys:
            key, entry = next(iter(self._keys.items()))
            if entry.at >= horizon and len(self._keys) <= self._max:
                break
            del self._keys[key]
        while self._resources:
            ref, (at, _) = next(iter(self._resources.items()))
            if at >= horizon and len(self._resources) <= self._max:
                break
            self._forget(ref)

    async def begin(self, key: str, fingerprint: str) -> Begin:
        self._expire()
        entry = self._keys.get(key)
        if entry is None:
            self._keys[key] = _Key(fingerprint, None, self._now())
            return Begin(BeginState.NEW)
        if entry.fingerprint != fingerprint:
            return Begin(BeginState.MISMATCH)
        if entry.reply is None:
            return Begin(BeginState.IN_FLIGHT)
        return Begin(BeginState.REPLAY, entry.reply)

    async def finish(self, key: str, reply: StoredReply) -> None:
        entry = self._keys.get(key)
        if entry is not None:
            entry.reply = reply
            entry.at = self._now()
            self._keys.move_to_end(key)

    async def abandon(self, key: str) -> None:
        self._keys.pop(key, None)

    # --- resources ----------------------------------------------------------------------------------------

    def _forget(self, ref: tuple[str, str]) -> None:
        _, resource = self._resources.pop(ref)
        for _system, value in resource.identifiers:
            holders = self._by_value.get((resource.resource_type, value))
            if holders is not None:
                holders.discard(ref)
                if not holders:
                    del self._by_value[(resource.resource_type, value)]

    async def find(self, resource_type: str, system: str | None, value: str) -> Sequence[KnownResource]:
        self._expire()
        found = []
        for ref in sorted(self._by_value.get((resource_type, value), ())):
            resource = self._resources[ref][1]
            if system is None or (system, value) in resource.identifiers:
                found.append(resource)
        return found

    async def known(self, resource_type: str, resource_id: str) -> KnownResource | None:
        self._expire()
        entry = self._resources.get((resource_type, resource_id))
        return entry[1] if entry is not None else None

    async def remember(self, resources: Sequence[KnownResource]) -> None:
        for resource in resources:
            ref = (resource.resource_type, resource.id)
            if ref in self._resources:
                self._forget(ref)
            self._resources[ref] = (self._now(), resource)
            for _system, value in resource.identifiers:
                self._by_value.setdefault((resource.resource_type, value), set()).add(ref)
        self._expire()

    # --- serializing conflicting requests -----------------------------------------------------------------

    @asynccontextmanager
    async def _guarded(self, keys: list[str]) -> AsyncIterator[None]:
        registered: list[str] = []
        held: list[asyncio.Lock] = []
        try:
            for key in keys:  # sorted, so two requests never wait on each other in opposite orders
                lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
                self._locks[key] = (lock, users + 1)
                registered.append(key)
                await lock.acquire()
                held.append(lock)
            yield
        finally:
            for lock in reversed(held):
                lock.release()
            for key in registered:
                lock, users = self._locks[key]
                if users <= 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)

    def guard(self, keys: Collection[str]) -> AbstractAsyncContextManager[None]:
        return self._guarded(sorted(set(keys)))
