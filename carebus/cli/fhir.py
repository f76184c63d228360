"""`carebus fhir serve|token`: the FHIR R4 ingest API, and bearer tokens for its clients."""

from __future__ import annotations

import json
import secrets
from typing import Annotated

import typer
import uvicorn

from carebus.cli._bootstrap import open_bus
from carebus.cli._context import fail, resolve_bootstrap, settings
from carebus.errors import ConfigError
from carebus.kafka.config import KafkaConnection
from producers.fhir.app import build_app
from producers.fhir.auth import BearerAuth, hash_token
from producers.fhir.idempotency import InMemoryIdempotencyStore

__all__ = ["app"]

app = typer.Typer(help="FHIR R4 REST ingest.", no_args_is_help=True)


@app.command()
def serve(
    *,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port; default CAREBUS_FHIR_PORT (8080).")] = None,
    instance: Annotated[str, typer.Option(help="Stable name of this replica (its transactional id).")] = "1",
) -> None:
    """Serve `POST [base]/<Type>` and `POST [base]/` (Bundles) until interrupted."""
    current = settings()
    listen_port = port or current.fhir_port
    base_url = current.fhir_base_url or f"http://{host}:{listen_port}/fhir"
    try:
        auth = BearerAuth.from_config(current.fhir_clients.get_secret_value(),
                                      allow_anonymous=current.fhir_allow_anonymous)
    except ConfigError as exc:
        fail(f"CAREBUS_FHIR_CLIENTS: {exc}", code=2)
    connection = KafkaConnection.from_settings(current, resolve_bootstrap())
    with open_bus(current, connection, transactional_id=f"carebus-fhir-{instance}") as bus:
        api = build_app(publisher=bus.events, deadletters=bus.deadletters, auth=auth,
                        idempotency=InMemoryIdempotencyStore(ttl_s=current.fhir_idempotency_ttl_s),
                        base_url=base_url)
        typer.echo(f"FHIR ingest at {base_url}", err=True)
        # No access log: a conditional request carries identifiers in its query string.
        uvicorn.run(api, host=host, port=listen_port, log_config=None, access_log=False)


@app.command()
def token(
    name: Annotated[str, typer.Argument(help="The client's name, e.g. the sending system.")],
    *,
    scopes: Annotated[str, typer.Option(help="SMART scopes, space separated.")] = "system/*.write",
) -> None:
    """Make a new bearer token; print it once, and the CAREBUS_FHIR_CLIENTS entry that accepts it."""
    value = secrets.token_urlsafe(32)
    typer.echo(f"token: {value}")
    typer.echo("CAREBUS_FHIR_CLIENTS entry: " + json.dumps({hash_token(value): {"name": name, "scopes": scopes}}))
