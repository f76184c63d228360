"""The MLLP server's connection loop, driven through in-memory streams (no sockets): order, idle timeout,
and the graceful stop that answers what arrived, lets the message in flight finish, then closes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from prometheus_client import CollectorRegistry

from producers.hl7v2.errors import FramingError
from producers.hl7v2.framing import encode_frame
from producers.hl7v2.metrics import Hl7Metrics
from producers.hl7v2.server import MllpServer, ServerConfig


class FakeWriter:
    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    async def wait_closed(self) -> None:
        return None

    def get_extra_info(self, name: str) -> object:
        return ("127.0.0.1", 40000) if name == "peername" else None


class Handler:
    """ACKs each frame with its own bytes; `gate`, when set, holds a message in flight until opened."""

    def __init__(self) -> None:
        self.gate: asyncio.Event | None = None
        self.started = asyncio.Event()

    async def handle(self, frame: bytes, peer: str) -> bytes:
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        return b"ACK " + frame

    async def reject(self, frame: bytes | None, peer: str, error: FramingError) -> bytes:
        return b"NAK"


Scenario = Callable[[MllpServer, Handler, asyncio.StreamReader, FakeWriter, "asyncio.Task[None]"], Awaitable[None]]


def _run(scenario: Scenario, *, idle_timeout_s: float = 30.0) -> FakeWriter:
    async def main() -> FakeWriter:
        handler = Handler()
        server = MllpServer(handler, Hl7Metrics(CollectorRegistry()),
                            ServerConfig(port=0, idle_timeout_s=idle_timeout_s, shutdown_timeout_s=5.0,
                                         tune_gc=False))
        reader, writer = asyncio.StreamReader(), FakeWriter()
        connection = asyncio.create_task(server._accept(reader, writer))  # type: ignore[arg-type]
        await _settle()
        await asyncio.wait_for(scenario(server, handler, reader, writer, connection), 5.0)
        return writer

    return asyncio.run(main())


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def _acks(*payloads: bytes) -> bytes:
    return b"".join(encode_frame(b"ACK " + payload) for payload in payloads)


def test_frames_are_answered_in_order_and_the_last_one_at_end_of_stream() -> None:
    async def scenario(server: MllpServer, handler: Handler, reader: asyncio.StreamReader, writer: FakeWriter,
                       connection: asyncio.Task[None]) -> None:
        reader.feed_data(encode_frame(b"one") + encode_frame(b"two")[:-3])
        await _settle()
        reader.feed_data(encode_frame(b"two")[-3:] + b"\x0bthree\x1c")
        reader.feed_eof()
        await connection

    writer = _run(scenario)
    assert bytes(writer.data) == _acks(b"one", b"two", b"three")
    assert writer.closed


def test_stop_closes_an_idle_connection_at_once() -> None:
    async def scenario(server: MllpServer, handler: Handler, reader: asyncio.StreamReader, writer: FakeWriter,
                       connection: asyncio.Task[None]) -> None:
        await server.stop()
        assert connection.done() and not connection.cancelled()

    writer = _run(scenario)
    assert writer.closed and not writer.data


def test_stop_lets_the_message_in_flight_finish_and_be_acknowledged() -> None:
    async def scenario(server: MllpServer, handler: Handler, reader: asyncio.StreamReader, writer: FakeWriter,
                       connection: asyncio.Task[None]) -> None:
        handler.gate = asyncio.Event()
        reader.feed_data(encode_frame(b"in-flight"))
        await handler.started.wait()
        stopping = asyncio.create_task(server.stop())
        await _settle()
        assert not stopping.done() and not writer.closed
        handler.gate.set()
        await stopping
        assert connection.done() and not connection.cancelled()

    writer = _run(scenario)
    assert bytes(writer.data) == _acks(b"in-flight")
    assert writer.closed


def test_a_frame_that_arrived_before_stop_is_still_answered() -> None:
    async def scenario(server: MllpServer, handler: Handler, reader: asyncio.StreamReader, writer: FakeWriter,
                       connection: asyncio.Task[None]) -> None:
        reader.feed_data(encode_frame(b"just-in-time"))  # the connection is woken, but has not run yet
        await server.stop()

    writer = _run(scenario)
    assert bytes(writer.data) == _acks(b"just-in-time")
    assert writer.closed


def test_an_idle_connection_is_closed_after_the_idle_timeout() -> None:
    async def scenario(server: MllpServer, handler: Handler, reader: asyncio.StreamReader, writer: FakeWriter,
                       connection: asyncio.Task[None]) -> None:
        reader.feed_data(encode_frame(b"one"))
        await asyncio.wait_for(connection, 2.0)

    writer = _run(scenario, idle_timeout_s=0.05)
    assert bytes(writer.data) == _acks(b"one")
    assert writer.closed


def test_a_cancel_from_outside_is_not_taken_for_a_stop() -> None:
    async def scenario(server: MllpServer, handler: Handler, reader: asyncio.StreamReader, writer: FakeWriter,
                       connection: asyncio.Task[None]) -> None:
        connection.cancel()
        with pytest.raises(asyncio.CancelledError):
            await connection

    writer = _run(scenario)
    assert writer.closed
