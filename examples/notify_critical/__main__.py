"""`python -m examples.notify_critical --bootstrap HOST:PORT --registry URL --out FILE`: run until SIGTERM."""

from __future__ import annotations

import argparse
from pathlib import Path

from carebus.sdk import Subscriber
from examples.notify_critical.service import FileNotifier, handle_with


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="notify-critical", description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--registry", required=True)
    parser.add_argument("--out", type=Path, required=True, help="Where notifications go (JSON lines).")
    parser.add_argument("--group", default="notify-critical")
    parser.add_argument("--topic", default=None, help="Default: normalized.result.v1.")
    parser.add_argument("--session-timeout", type=float, default=None, help="Seconds (consumer group).")
    args = parser.parse_args(argv)
    with Subscriber.connect(bootstrap=args.bootstrap, registry=args.registry, group=args.group,
                            topic=args.topic, domain="result", session_timeout_s=args.session_timeout) as subscriber:
        subscriber.run(handle_with(FileNotifier(args.out)))


if __name__ == "__main__":
    main()
