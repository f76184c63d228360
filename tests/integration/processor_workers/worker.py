"""One carebus processor worker for the integration tests, run as a subprocess (as `carebus processors worker`
runs it, with every name given on the command line so each test has its own topics, registry and app id)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from confluent_kafka.schema_registry import SchemaRegistryClient

from processors.options import ProcessorOptions
from processors.runtime import run_worker
from processors.topology import Topology


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--broker", required=True)
    parser.add_argument("--registry", required=True)
    parser.add_argument("--app", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--partitions", type=int, required=True)
    parser.add_argument("--config-dir", type=Path, required=True)
    parser.add_argument("--datadir", type=Path, required=True)
    parser.add_argument("--guarantee", default="exactly_once")
    parser.add_argument("--commit-interval", type=float, default=0.5)
    parser.add_argument("--session-timeout", type=float, default=6.0)
    parser.add_argument("--retry-delays", default="0.5,1.0")
    parser.add_argument("--dedupe-window", type=float, default=3600.0)
    parser.add_argument("--transient-limit", type=float, default=120.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    topology = Topology(app_id=args.app, prefix=args.prefix, partitions=args.partitions,
                        retry_delays_s=tuple(float(d) for d in args.retry_delays.split(",") if d))
    options = ProcessorOptions(broker=args.broker, topology=topology, config_dir=args.config_dir,
                               guarantee=args.guarantee, commit_interval_s=args.commit_interval,
                               session_timeout_s=args.session_timeout, datadir=args.datadir,
                               dedupe_window_s=args.dedupe_window, transient_limit_s=args.transient_limit,
                               config_check_every_s=0.2, topic_refresh_s=0.5)
    run_worker(options, registry=SchemaRegistryClient({"url": args.registry}))


if __name__ == "__main__":
    main()
