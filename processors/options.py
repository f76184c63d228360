"""Everything a processor worker is configured with, as one frozen value (built by the CLI from Settings and flags)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from processors.app import EXACTLY_ONCE
from processors.config_files import DEFAULT_CHECK_EVERY_S, DEFAULT_CONFIG_DIR
from processors.dedupe import DEFAULT_WINDOW_S
from processors.topology import Topology

__all__ = ["DEFAULT_COMMIT_INTERVAL_S", "DEFAULT_TRANSIENT_LIMIT_S", "ProcessorOptions"]

DEFAULT_COMMIT_INTERVAL_S: Final = 1.0
"""Each hop's output becomes visible to read_committed readers at its commit: this bounds the latency a hop adds."""
DEFAULT_TRANSIENT_LIMIT_S: Final = 120.0
"""How long a stage retries an unreachable registry in place before the worker stops (uncommitted work is redone)."""
DEFAULT_TOPIC_REFRESH_S: Final = 2.0
DEFAULT_LINGER_S: Final = 0.005
"""Producer batching: every event makes several records (output, changelog entries, copies), which may share
a request instead of one request each."""


@dataclass(frozen=True, kw_only=True)
class ProcessorOptions:
    broker: str
    topology: Topology = field(default_factory=Topology)
    config_dir: Path = DEFAULT_CONFIG_DIR
    guarantee: str = EXACTLY_ONCE
    dedupe_window_s: float = DEFAULT_WINDOW_S
    commit_interval_s: float = DEFAULT_COMMIT_INTERVAL_S
    session_timeout_s: float | None = None
    datadir: Path | None = None
    store: str = "memory://"
    replication_factor: int = 1
    standby_replicas: int = 0
    config_check_every_s: float = DEFAULT_CHECK_EVERY_S
    transient_limit_s: float = DEFAULT_TRANSIENT_LIMIT_S
    topic_refresh_s: float = DEFAULT_TOPIC_REFRESH_S
    web_port: int | None = None
    linger_s: float = DEFAULT_LINGER_S
