"""Run an `MllpServer` on its own event loop in a background thread: for the demo, benchmarks and tests.

`carebus hl7 listen` runs the server on the main thread's loop instead; this is for callers that are
themselves synchronous (a blocking MLLP client in the same process, a test).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from producers.hl7v2.server import MllpServer

__all__ = ["START_TIMEOUT_S", "serving_in_thread"]

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


@contextmanager
def serving_in_thread(server: MllpServer) -> Iterator[int]:
    """Start `server` in a thread; yield its port once it listens; stop it gracefully on exit."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:  # handed to the caller's thread below
            failure.append(exc)
            ready.set()
            return
        ready.set()
        # run_forever, not run_until_complete(serve_forever()): stop() runs on this loop and must
        # finish draining connections after the serving coroutine has returned.
        loop.run_forever()

    thread = threading.Thread(target=run, name="mllp-listener", daemon=True)
    thread.start()
    if not ready.wait(START_TIMEOUT_S) or failure:
        loop.close()
        raise RuntimeError("the MLLP listener did not start") from (failure[0] if failure else None)
    try:
        yield server.port
    finally:
        try:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=STOP_TIMEOUT_S)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(STOP_TIMEOUT_S)
            loop.close()
