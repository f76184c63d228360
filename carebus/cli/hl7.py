"""`carebus hl7 listen|send`: the MLLP listener and a client to feed it files."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
from pathlib import Path
from typing import Annotated

import typer
from prometheus_client import CollectorRegistry, start_http_server

from carebus.cli._bootstrap import open_bus
from carebus.cli._context import fail, resolve_bootstrap, settings
from carebus.kafka.config import KafkaConnection
from producers.hl7v2.client import MllpClient, read_ack, split_messages
from producers.hl7v2.dedupe import DEFAULT_WINDOW_S, ResendWindow
from producers.hl7v2.framing import DEFAULT_MAX_FRAME_SIZE
from producers.hl7v2.handler import HandlerConfig, MessageHandler
from producers.hl7v2.listener import build_map_events
from producers.hl7v2.metrics import Hl7Metrics
from producers.hl7v2.server import DEFAULT_MLLP_PORT, MllpServer, ServerConfig

__all__ = ["app"]

DEFAULT_METRICS_PORT = 9464

app = typer.Typer(help="HL7 v2 over MLLP: listen for messages, or send files to a listener.",
                  no_args_is_help=True)


@app.command()
def listen(
    *,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="MLLP port (2575 is HL7's registered port).")] = DEFAULT_MLLP_PORT,
    metrics_port: Annotated[int, typer.Option(help="Port for Prometheus /metrics (0: none).")] = DEFAULT_METRICS_PORT,
    tls_cert: Annotated[Path | None, typer.Option(help="PEM certificate: serve MLLP over TLS.")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key for --tls-cert.")] = None,
    max_frame_size: Annotated[int, typer.Option(help="Largest message in bytes.")] = DEFAULT_MAX_FRAME_SIZE,
    idle_timeout: Annotated[float, typer.Option(help="Close a connection idle this many seconds.")] = 300.0,
    resend_window: Annotated[float, typer.Option(help="Seconds a resent MSH-10 is recognised.")] = DEFAULT_WINDOW_S,
    publish_timeout: Annotated[float, typer.Option(help="Seconds Kafka may take before AE.")] = 5.0,
) -> None:
    """Accept HL7 v2 messages; ACK each once its events are on Kafka. Ctrl-C or SIGTERM stops it cleanly."""
    if (tls_cert is None) != (tls_key is None):
        fail("--tls-cert and --tls-key go together", code=2)
    ssl_context = None
    if tls_cert is not None and tls_key is not None:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(tls_cert, tls_key)
    current = settings()
    connection = KafkaConnection.from_settings(current, resolve_bootstrap())
    registry = CollectorRegistry()
    metrics = Hl7Metrics(registry)
    if metrics_port:
        start_http_server(metrics_port, addr=host, registry=registry)
    config = ServerConfig(host=host, port=port, max_frame_size=max_frame_size, idle_timeout_s=idle_timeout,
                          ssl_context=ssl_context)
    with open_bus(current, connection, transactional_id=f"carebus-hl7-{host}-{port}") as bus:
        handler = MessageHandler(publisher=bus.events, deadletters=bus.deadletters, map_events=build_map_events(),
                                 resends=ResendWindow(window_s=resend_window), metrics=metrics,
                                 config=HandlerConfig(publish_timeout_s=publish_timeout))
        asyncio.run(_serve(MllpServer(handler, metrics, config)))


async def _serve(server: MllpServer) -> None:
    await server.start()
    typer.echo(f"listening for MLLP on port {server.port}", err=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    serving = asyncio.create_task(server.serve_forever())
    await stop.wait()
    await server.stop()
    with contextlib.suppress(asyncio.CancelledError):
        await serving


@app.command()
def send(
    files: Annotated[list[Path], typer.Argument(help="HL7 v2 files; a file may hold several messages.")],
    *,
    host: Annotated[str, typer.Option(help="Listener host.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listener port.")] = DEFAULT_MLLP_PORT,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each ACK.")] = 30.0,
) -> None:
    """Send each message and print its ACK. Exit 0 when all are AA, 1 when any is not, 2 on a bad file."""
    all_accepted = True
    try:
        with MllpClient(host, port, timeout_s=timeout) as client:
            for path in files:
                try:
                    messages = split_messages(path.read_bytes())
                except OSError as exc:
                    fail(f"cannot read {path}: {exc.strerror or type(exc).__name__}", code=2)
                for index, message in enumerate(messages, start=1):
                    ack = read_ack(client.send(message))
                    all_accepted &= ack.code in ("AA", "CA")
                    where = f"{path}#{index}" if len(messages) > 1 else str(path)
                    typer.echo(f"{ack.code:2} {ack.control_id:20} {where}{'  ' + ack.error if ack.error else ''}")
    except OSError as exc:
        fail(f"MLLP {host}:{port}: {type(exc).__name__}: {exc.strerror or exc}", code=2)
    if not all_accepted:
        raise typer.Exit(1)
