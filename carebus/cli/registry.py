"""`carebus registry serve`: the built-in schema registry (Confluent's REST API, Avro, state in `_schemas`).

Needs a broker: `KAFKA_BOOTSTRAP_SERVERS`, else the local one (`carebus kafka up`). Any number of instances
may serve the same topic; they share its state (see `carebus.registry.store`). Exit codes: 1 when the registry
could not start, 2 for bad options; SIGINT or SIGTERM shut it down cleanly, after which uvicorn re-raises the
signal, so the status is the conventional one for that signal (130, 143).
"""

from __future__ import annotations

import contextlib

import typer
import uvicorn

from carebus.cli._context import fail, resolve_bootstrap, settings
from carebus.kafka.config import KafkaConnection
from carebus.registry.server import create_app
from carebus.registry.store import KafkaRegistryLog, RegistryStore
from carebus.topics import SCHEMAS_TOPIC

__all__ = ["app"]

DEFAULT_HOST = "127.0.0.1"

app = typer.Typer(help="Run the built-in Confluent-compatible schema registry.", no_args_is_help=True)


@app.command()
def serve(
    host: str = typer.Option(DEFAULT_HOST, help="Interface to listen on (0.0.0.0 in a container)."),
    port: int | None = typer.Option(None, min=1, max=65535,
                                    help="Port to listen on; default CAREBUS_REGISTRY_PORT (8081)."),
    topic: str = typer.Option(SCHEMAS_TOPIC, help="The compacted topic holding the registry's state."),
) -> None:
    """Serve the registry until interrupted. Replays the topic before accepting requests."""
    current = settings()
    connection = KafkaConnection.from_settings(current, resolve_bootstrap())
    store = RegistryStore(KafkaRegistryLog(connection, topic=topic))
    # log_config None: keep the logging the `carebus` callback configured.
    server = uvicorn.Server(uvicorn.Config(create_app(store), host=host, port=port or current.registry_port,
                                           log_config=None, access_log=False))
    # uvicorn raises SystemExit when the app's start-up (the log replay) fails; that is reported below.
    with contextlib.suppress(SystemExit):
        server.run()
    if not server.started:
        fail("the schema registry did not start (see the log above)", code=1)
