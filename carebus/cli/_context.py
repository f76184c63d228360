"""Builds the concrete pieces the commands need from `Settings`, read once per invocation."""

from __future__ import annotations

from functools import cache

import typer

from carebus.errors import CarebusError
from carebus.kafka.local import LocalCluster
from carebus.settings import Settings

__all__ = ["default_cluster", "fail", "resolve_bootstrap", "settings"]


@cache
def settings() -> Settings:
    return Settings()


def default_cluster(name: str = "default") -> LocalCluster:
    current = settings()
    return LocalCluster(state_dir=current.home / "run" / name, home=current.home, version=current.kafka_version)


def resolve_bootstrap(*, start: bool = False) -> str:
    """KAFKA_BOOTSTRAP_SERVERS when set; else the embedded cluster (started when `start`)."""
    current = settings()
    if current.kafka_bootstrap_servers:
        return current.kafka_bootstrap_servers
    cluster = default_cluster()
    if start:
        return cluster.up()
    bootstrap = cluster.bootstrap_servers
    if bootstrap is None or not cluster.is_ready():
        fail("no KAFKA_BOOTSTRAP_SERVERS and the local broker is not running: run `carebus kafka up`", code=1)
    return bootstrap


def fail(message: str, *, code: int = 1) -> typer.Exit:
    """Print `message` to stderr and exit with `code` (1 failed check, 2 bad usage or input)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def run_guarded(error: CarebusError, *, code: int = 1) -> typer.Exit:
    return fail(str(error), code=code)
