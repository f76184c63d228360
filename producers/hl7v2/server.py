"""The MLLP listener: asyncio TCP (optionally TLS), one task per connection, frames in order per connection.

Frame → handler → ACK, nothing more: parsing, mapping, publishing and the ACK policy live in
`handler.py`. What this module owns is the connection: framing errors (an oversized frame gets an
AR and the stream stays in step; bytes outside a frame are counted and dropped; a broken frame is
dead-lettered and NAKed), idle timeouts, and a graceful shutdown that stops accepting, lets every
in-flight message finish and be acknowledged, then closes idle connections.

Started, the server by default tunes the garbage collector for a process that serves (`ServerConfig.tune_gc`):
what the process built to serve (the broker client, the registry client, hl7apy's tables, the event
models) lives as long as it does, so it moves to the permanent generation (`gc.freeze()`), where no full
collection walks it again (each took ~100 ms, stalling every connection's ACK); and the young generation
is collected every `GC_YOUNG_THRESHOLD` net allocations instead of 700, as one message alone allocates
more than that and refcounting frees nearly all of it (measured: ~70 us of collection per message, gone).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import ssl
from dataclasses import dataclass
from typing import Any, Protocol

from producers.hl7v2.errors import FramingError, MalformedFrameError, OversizedFrameError, UnexpectedBytesError
from producers.hl7v2.framing import DEFAULT_MAX_FRAME_SIZE, MllpDecoder, encode_frame
from producers.hl7v2.metrics import Hl7Metrics

__all__ = ["DEFAULT_MLLP_PORT", "GC_YOUNG_THRESHOLD", "FrameHandler", "MllpServer", "ServerConfig"]

logger = logging.getLogger(__name__)

DEFAULT_MLLP_PORT = 2575
READ_SIZE = 64 * 1024
GC_YOUNG_THRESHOLD = 10_000


class FrameHandler(Protocol):
    async def handle(self, frame: bytes, peer: str) -> bytes: ...

    async def reject(self, frame: bytes | None, peer: str, error: FramingError) -> bytes: ...


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_MLLP_PORT
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    idle_timeout_s: float = 300.0
    shutdown_timeout_s: float = 15.0
    ssl_context: ssl.SSLContext | None = None
    tune_gc: bool = True


class MllpServer:
    def __init__(self, handler: FrameHandler, metrics: Hl7Metrics, config: ServerConfig = ServerConfig()) -> None:
        if config.max_frame_size < 1 or config.idle_timeout_s <= 0:
            raise ValueError("max_frame_size and idle_timeout_s must be positive")
        self._handler = handler
        self._metrics = metrics
        self._config = config
        self._server: asyncio.Server | None = None
        self._stopping = asyncio.Event()
        self._connections: set[asyncio.Task[None]] = set()
        self._idle: set[asyncio.Task[Any]] = set()  # connections waiting for bytes
        self._woken: set[asyncio.Task[Any]] = set()  # ...of which stop() has woken these

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the server is not listening")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self._config.host, self._config.port,
                                                  ssl=self._config.ssl_context, limit=READ_SIZE)
        if self._config.tune_gc:
            gc.freeze()
            young, *older = gc.get_threshold()
            if young < GC_YOUNG_THRESHOLD:
                gc.set_threshold(GC_YOUNG_THRESHOLD, *older)
        logger.info("MLLP listening on %s:%d%s", self._config.host, self.port,
                    " (TLS)" if self._config.ssl_context else "")

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        await self._stopping.wait()

    async def stop(self) -> None:
        """Stop accepting; finish in-flight messages; close connections; all within the shutdown bound."""
        self._stopping.set()
        if self._server is not None:
            self._server.close()
        # After the callbacks already queued: a connection whose bytes have arrived reads them first.
        asyncio.get_running_loop().call_soon(self._wake_idle)
        if self._connections:
            _, pending = await asyncio.wait(self._connections, timeout=self._config.shutdown_timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        logger.info("MLLP listener stopped")

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)
        await self._serve(reader, writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _peer_name(writer)
        decoder = MllpDecoder(max_frame_size=self._config.max_frame_size)
        self._metrics.open_connections.inc()
        try:
            while not self._stopping.is_set():
                chunk = await self._read(reader)
                if chunk is None:
                    logger.info("closing idle or stopping connection from %s", peer)
                    return
                if not chunk:
                    await self._drain_at_eof(decoder, writer, peer)
                    return
                decoder.feed(chunk)
                await self._answer_frames(decoder, writer, peer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
            logger.info("connection from %s ended: %s", peer, type(exc).__name__)
        finally:
            self._metrics.open_connections.dec()
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _read(self, reader: asyncio.StreamReader) -> bytes | None:
        """The next chunk; b"" at end of stream; None when idle too long or the server is stopping."""
        # No task per read (this runs once per message): stop() wakes an idle connection by cancelling it.
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("_read runs in a connection task")
        self._idle.add(task)
        try:
            async with asyncio.timeout(self._config.idle_timeout_s):
                return await reader.read(READ_SIZE)
        except TimeoutError:
            return None
        except asyncio.CancelledError:
            if task not in self._woken:
                raise
            self._woken.discard(task)
            task.uncancel()
            return None
        finally:
            self._idle.discard(task)

    def _wake_idle(self) -> None:
        for task in self._idle:
            self._woken.add(task)
            task.cancel()

    async def _answer_frames(self, decoder: MllpDecoder, writer: asyncio.StreamWriter, peer: str) -> None:
        while True:
            try:
                frame = decoder.next_frame()
            except FramingError as error:
                await self._on_framing_error(error, writer, peer)
                continue
            if frame is None:
                return
            if not frame:
                continue  # an empty frame is some senders' keep-alive
            ack = await self._handler.handle(frame, peer)
            writer.write(encode_frame(ack))
            await writer.drain()

    async def _on_framing_error(self, error: FramingError, writer: asyncio.StreamWriter, peer: str) -> None:
        kind = type(error).__name__
        self._metrics.framing_errors.labels(kind).inc()
        if isinstance(error, UnexpectedBytesError):
            if not error.whitespace_only:
                logger.info("dropped %d bytes outside any frame from %s", error.size, peer)
            return
        frame = error.frame if isinstance(error, MalformedFrameError) else None
        if isinstance(error, OversizedFrameError):
            logger.warning("oversized frame from %s (%d bytes over a %d limit)", peer, error.size, error.limit)
        nak = await self._handler.reject(frame, peer, error)
        writer.write(encode_frame(nak))
        await writer.drain()

    async def _drain_at_eof(self, decoder: MllpDecoder, writer: asyncio.StreamWriter, peer: str) -> None:
        """The sender closed its side: a complete last frame is still answered; a partial one is dead-lettered."""
        try:
            last = decoder.close()
        except FramingError as error:
            self._metrics.framing_errors.labels(type(error).__name__).inc()
            frame = error.frame if isinstance(error, MalformedFrameError) else None
            logger.info("connection from %s closed mid-frame (%s)", peer, type(error).__name__)
            await self._handler.reject(frame, peer, error)
            return
        if last:
            ack = await self._handler.handle(last, peer)
            with contextlib.suppress(ConnectionError):
                writer.write(encode_frame(ack))
                await writer.drain()


def _peer_name(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return "unknown"
