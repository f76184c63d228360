"""A local Apache Kafka cluster in KRaft mode, run from Maven Central jars on the machine's Java.

No Docker and no tarball: `deploy/kafka/pom.xml` names the broker jars, Maven copies them into a
cache outside git (`<home>/kafka-<version>/libs`), and each node runs `java kafka.Kafka` on a
config written from `deploy/kafka/server.properties.template`. Every node is a combined
broker+controller with a static quorum, bound to 127.0.0.1 only.

A cluster's state lives in one folder (`<home>/run/<name>` for the CLI, a temp dir in tests):
`cluster.json` (ids, ports, pids), and per node its config, data and `server.log`. `up` is
idempotent (a running cluster is left alone), `down` stops only the pids this launcher started,
and storage survives `down` unless purged.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import signal
import socket
import string
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient

from carebus.errors import LocalKafkaError

__all__ = [
    "DEFAULT_KAFKA_PORT",
    "DEPLOY_DIR",
    "LocalCluster",
    "NodeStatus",
    "ensure_jars",
    "free_port",
]

logger = logging.getLogger(__name__)

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy" / "kafka"
DEFAULT_KAFKA_PORT = 9092
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
MAVEN_TIMEOUT_S = 600.0
# Small heaps: a test cluster of three nodes must fit beside the test run on 2 cores.
HEAP_OPTS = ("-Xms256m", "-Xmx512m")
JVM_OPTS = (
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-Djava.awt.headless=true",
)
_COMPLETE_MARKER = ".complete"


def ensure_jars(home: Path, version: str, *, deploy_dir: Path = DEPLOY_DIR) -> Path:
    """Return the folder holding the broker's jars, fetching them with Maven the first time."""
    libs = home / f"kafka-{version}" / "libs"
    if (libs / _COMPLETE_MARKER).exists():
        return libs
    if shutil.which("mvn") is None:
        raise LocalKafkaError("Maven (mvn) is not on PATH; it fetches the Kafka jars from Maven Central")
    if libs.exists():
        shutil.rmtree(libs)  # a half-finished copy could mix versions
    libs.mkdir(parents=True)
    command = [
        "mvn", "-B", "-q", "-f", str(deploy_dir / "pom.xml"),
        f"-Dkafka.version={version}",
        "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={libs}",
    ]
    logger.info("fetching Apache Kafka %s jars from Maven Central into %s", version, libs)
    result = subprocess.run(command, capture_output=True, text=True, timeout=MAVEN_TIMEOUT_S, check=False)
    if result.returncode != 0 or not any(libs.glob("kafka_2.13-*.jar")):
        raise LocalKafkaError(f"mvn failed to fetch Kafka {version} (exit {result.returncode}): "
                              f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
    (libs / _COMPLETE_MARKER).write_text(version)
    return libs


def free_port(preferred: int | None = None) -> int:
    """`preferred` when it is free on 127.0.0.1, else a port the OS picks."""
    if preferred is not None and _port_is_free(preferred):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the broker binds: a port whose old connections linger in TIME_WAIT is free to it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _kafka_uuid() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64, no padding, not starting with '-'."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate


@dataclass(frozen=True)
class _Node:
    node_id: int
    port: int
    controller_port: int
    pid: int | None = None


@dataclass(frozen=True)
class NodeStatus:
    node_id: int
    port: int
    pid: int | None
    alive: bool
    log_file: Path


@dataclass(frozen=True)
class _ClusterState:
    cluster_id: str
    version: str
    nodes: tuple[_Node, ...]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)


class LocalCluster:
    """One local KRaft cluster whose state lives in `state_dir`."""

    def __init__(self, *, state_dir: Path, home: Path, version: str, deploy_dir: Path = DEPLOY_DIR) -> None:
        if not (deploy_dir / "server.properties.template").exists():
            raise LocalKafkaError(f"no server.properties.template in {deploy_dir}")
        self.state_dir = state_dir
        self.home = home
        self.version = version
        self.deploy_dir = deploy_dir
        # Brokers this object started; kept so they are reaped here rather than warned about at GC.
        self._processes: dict[int, subprocess.Popen[bytes]] = {}

    # -- public API ---------------------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str | None:
        state = self._load_state()
        return state.bootstrap_servers if state else None

    def up(self, *, brokers: int = 1, port: int = DEFAULT_KAFKA_PORT,
           timeout_s: float = START_TIMEOUT_S) -> str:
        """Start the cluster (or find it running) and return its bootstrap servers."""
        if brokers < 1:
            raise LocalKafkaError("a cluster needs at least one broker")
        state = self._load_state()
        if state is not None and all(self._is_our_broker(node) for node in state.nodes):
            self._wait_ready(state, timeout_s)
            return state.bootstrap_servers
        if state is not None and len(state.nodes) != brokers:
            raise LocalKafkaError(
                f"{self.state_dir} holds a {len(state.nodes)}-broker cluster; "
                f"run `carebus kafka down --purge` before starting one with {brokers}"
            )
        libs = ensure_jars(self.home, self.version, deploy_dir=self.deploy_dir)
        state = state or self._new_state(brokers, port)
        state = self._reassign_taken_ports(state)
        for node in state.nodes:
            self._write_config(state, node)
            self._format(libs, state, node)
        started = tuple(self._start(libs, node) for node in state.nodes)
        state = _ClusterState(state.cluster_id, state.version, started)
        self._save_state(state)
        self._wait_ready(state, timeout_s)
        return state.bootstrap_servers

    def down(self, *, purge: bool = False) -> None:
        """Stop every node this launcher started (SIGTERM, then SIGKILL after a bound)."""
        state = self._load_state()
        if state is not None:
            self._stop(state.nodes)
            self._save_state(_ClusterState(
                state.cluster_id, state.version,
                tuple(_Node(n.node_id, n.port, n.controller_port) for n in state.nodes)))
        if purge and self.state_dir.exists():
            shutil.rmtree(self.state_dir)

    def kill_node(self, node_id: int) -> None:
        """SIGKILL one node, for failover tests."""
        state = self._require_state()
        for node in state.nodes:
            if node.node_id == node_id and node.pid is not None and self._is_our_broker(node):
                os.kill(node.pid, signal.SIGKILL)
                self._wait_for_exit(node.pid, STOP_TIMEOUT_S)

    def status(self) -> list[NodeStatus]:
        state = self._load_state()
        if state is None:
            return []
        return [
            NodeStatus(node.node_id, node.port, node.pid, self._is_our_broker(node), self.log_file(node.node_id))
            for node in state.nodes
        ]

    def is_ready(self, timeout_s: float = 5.0) -> bool:
        state = self._load_state()
        return state is not None and _reachable_brokers(state.bootstrap_servers, timeout_s) == len(state.nodes)

    def log_file(self, node_id: int) -> Path:
        return self._node_dir(node_id) / "logs" / "server.log"

    # -- internals ----------------------------------------------------------------------------

    def _node_dir(self, node_id: int) -> Path:
        return self.state_dir / f"node-{node_id}"

    def _state_file(self) -> Path:
        return self.state_dir / "cluster.json"

    def _load_state(self) -> _ClusterState | None:
        path = self._state_file()
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        return _ClusterState(raw["cluster_id"], raw["version"], tuple(_Node(**node) for node in raw["nodes"]))

    def _require_state(self) -> _ClusterState:
        state = self._load_state()
        if state is None:
            raise LocalKafkaError(f"no cluster in {self.state_dir}")
        return state

    def _save_state(self, state: _ClusterState) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        payload = {"cluster_id": state.cluster_id, "version": state.version,
                   "nodes": [asdict(node) for node in state.nodes]}
        tmp = self._state_file().with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=2))
        tmp.replace(self._state_file())

    def _new_state(self, brokers: int, port: int) -> _ClusterState:
        taken: set[int] = set()
        nodes = []
        for index in range(brokers):
            broker_port = _pick_port(port + 2 * index, taken)
            controller_port = _pick_port(port + 2 * index + 1 + 1000, taken)
            nodes.append(_Node(index + 1, broker_port, controller_port))
        return _ClusterState(_kafka_uuid(), self.version, tuple(nodes))

    def _reassign_taken_ports(self, state: _ClusterState) -> _ClusterState:
        """A stopped cluster keeps its ports unless something else took them meanwhile."""
        if all(_port_is_free(n.port) and _port_is_free(n.controller_port) for n in state.nodes):
            return state
        if len(state.nodes) > 1:
            # The quorum voter list is fixed at format time, so the controller ports cannot move.
            raise LocalKafkaError("a port of this cluster is taken; run `carebus kafka down --purge` first")
        node = state.nodes[0]
        moved = _Node(node.node_id, free_port(node.port), node.controller_port)
        if not _port_is_free(moved.controller_port):
            raise LocalKafkaError(f"controller port {node.controller_port} is taken; purge and start again")
        return _ClusterState(state.cluster_id, state.version, (moved,))

    def _write_config(self, state: _ClusterState, node: _Node) -> None:
        node_dir = self._node_dir(node.node_id)
        (node_dir / "data").mkdir(parents=True, exist_ok=True)
        (node_dir / "logs").mkdir(parents=True, exist_ok=True)
        replication = min(3, len(state.nodes))
        template = string.Template((self.deploy_dir / "server.properties.template").read_text())
        config = template.substitute(
            node_id=node.node_id,
            quorum_voters=",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in state.nodes),
            port=node.port,
            controller_port=node.controller_port,
            log_dir=node_dir / "data",
            replication_factor=replication,
            min_isr=max(1, replication - 1),
        )
        (node_dir / "server.properties").write_text(config)

    def _java(self, libs: Path, *args: str, heap: Sequence[str], log_dir: Path) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise LocalKafkaError("java is not on PATH; the broker needs Java 17 or newer")
        return [
            java, *heap, *JVM_OPTS,
            f"-Dlog4j2.configurationFile={self.deploy_dir / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={log_dir}",
            "-cp", str(libs / "*"),
            *args,
        ]

    def _format(self, libs: Path, state: _ClusterState, node: _Node) -> None:
        node_dir = self._node_dir(node.node_id)
        if (node_dir / "data" / "meta.properties").exists():
            return
        command = self._java(
            libs, "kafka.tools.StorageTool", "format", "--ignore-formatted",
            "-t", state.cluster_id, "-c", str(node_dir / "server.properties"),
            heap=("-Xmx256m",), log_dir=node_dir / "logs",
        )
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise LocalKafkaError(
                f"formatting storage for node {node.node_id} failed (exit {result.returncode}): "
                f"{result.stdout[-1500:]}{result.stderr[-1500:]}"
            )

    def _start(self, libs: Path, node: _Node) -> _Node:
        node_dir = self._node_dir(node.node_id)
        command = self._java(libs, "kafka.Kafka", str(node_dir / "server.properties"),
                             heap=HEAP_OPTS, log_dir=node_dir / "logs")
        with (node_dir / "logs" / "stdout.log").open("ab") as out:
            # Its own session, so a Ctrl-C in the terminal that ran `kafka up` leaves it running.
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        self._processes[process.pid] = process
        logger.info("started Kafka node %d (pid %d) on 127.0.0.1:%d", node.node_id, process.pid, node.port)
        return _Node(node.node_id, node.port, node.controller_port, process.pid)

    def _wait_ready(self, state: _ClusterState, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            # Only existence here: right after exec, /proc/<pid>/cmdline can still be empty.
            dead = [node for node in state.nodes if node.pid is None or _is_zombie(node.pid)]
            if dead:
                raise LocalKafkaError(
                    f"Kafka node {dead[0].node_id} exited during start-up; see {self.log_file(dead[0].node_id)}"
                )
            remaining = max(1.0, min(5.0, deadline - time.monotonic()))
            if _reachable_brokers(state.bootstrap_servers, remaining) == len(state.nodes):
                return
            time.sleep(0.2)  # a refused connection fails fast; don't spin
        raise LocalKafkaError(
            f"Kafka did not answer a metadata request within {timeout_s:.0f}s; "
            f"see {self.log_file(state.nodes[0].node_id)}"
        )

    def _stop(self, nodes: Sequence[_Node]) -> None:
        # Signal every node before waiting on any: a node that outlives its quorum's majority
        # cannot finish a controlled shutdown, so stopping one at a time would hang the last one.
        running = [node for node in nodes if node.pid is not None and self._is_our_broker(node)]
        for node in running:
            os.kill(node.pid, signal.SIGTERM)  # type: ignore[arg-type]
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for node in running:
            if not self._wait_for_exit(node.pid, max(0.0, deadline - time.monotonic())):  # type: ignore[arg-type]
                logger.warning("Kafka node %d did not stop within %.0fs; killing it", node.node_id, STOP_TIMEOUT_S)
                os.kill(node.pid, signal.SIGKILL)  # type: ignore[arg-type]
                self._wait_for_exit(node.pid, STOP_TIMEOUT_S)  # type: ignore[arg-type]

    def _wait_for_exit(self, pid: int, timeout_s: float) -> bool:
        process = self._processes.get(pid)
        if process is None:
            return _wait_for_exit(pid, timeout_s)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        del self._processes[pid]
        return True

    def _is_our_broker(self, node: _Node) -> bool:
        """True when `node.pid` is alive and is the broker this launcher started (not a reused pid)."""
        if node.pid is None:
            return False
        try:
            cmdline = Path(f"/proc/{node.pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        config = str(self._node_dir(node.node_id) / "server.properties").encode()
        return b"kafka.Kafka" in cmdline and config in cmdline and not _is_zombie(node.pid)


def _pick_port(preferred: int, taken: set[int]) -> int:
    port = preferred if preferred not in taken else None
    chosen = free_port(port)
    while chosen in taken:
        chosen = free_port()
    taken.add(chosen)
    return chosen


def _is_zombie(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return True
    return fields[0] in ("Z", "X")


def _wait_for_exit(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            # Reap it if it is our child (tests start brokers in-process); otherwise just probe.
            finished, _ = os.waitpid(pid, os.WNOHANG)
            if finished == pid:
                return True
        except ChildProcessError:
            pass
        if not Path(f"/proc/{pid}").exists() or _is_zombie(pid):
            return True
        time.sleep(0.1)
    return False


def _reachable_brokers(bootstrap_servers: str, timeout_s: float) -> int:
    """How many brokers a metadata request reports, or 0 when none answers in time."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers, "socket.connection.setup.timeout.ms": 2000,
                         "log_level": 0, "logger": _SILENT})
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except Exception:  # any failure here just means "not ready yet"
        return 0
    return len(metadata.brokers)


class _SilentLogger(logging.Logger):
    """librdkafka logs every refused connection while a broker starts; readiness polling expects that."""

    def __init__(self) -> None:
        super().__init__("carebus.kafka.local.rdkafka", level=logging.CRITICAL)


_SILENT = _SilentLogger()
