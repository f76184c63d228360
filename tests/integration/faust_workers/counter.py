"""A faust worker for tests: counts records per key in a table and reports to an output topic.

Run as `python counter.py --broker ... --app ... --source ... --output ... --partitions N --datadir D`.
Source records carry a string key and a JSON value:

- `{"id": N}` adds one to the key's count and emits `{"kind": "count", "id", "key", "count", "src"}`
  (`src` is the source partition);
- `{"op": "get"}` emits `{"kind": "state", "key", "count", "processed", "pid"}`, where `processed`
  is how many counting records this process has handled since it started: 0 after a restart
  proves the count came from the changelog, not from re-reading the source.

`--stock` builds a plain `faust.App` with the same settings instead of `processors.app.build_app`,
to show what faust does without carebus's exactly-once fixes.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import faust

from processors.app import broker_urls, build_app


def _stock_app(args: argparse.Namespace) -> faust.App:
    return faust.App(
        args.app, broker=broker_urls(args.broker), env={}, autodiscover=False,
        processing_guarantee=args.guarantee, topic_partitions=args.partitions,
        table_standby_replicas=0, store="memory://", datadir=args.datadir, web_enabled=False,
        broker_commit_interval=args.commit_interval, broker_session_timeout=args.session_timeout,
        broker_heartbeat_interval=args.session_timeout / 3,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--broker", required=True)
    parser.add_argument("--app", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--partitions", type=int, required=True)
    parser.add_argument("--datadir", required=True)
    parser.add_argument("--guarantee", default="at_least_once")
    parser.add_argument("--commit-interval", type=float, default=1.0)
    parser.add_argument("--commit-every", type=int, default=None)
    parser.add_argument("--session-timeout", type=float, default=6.0)
    parser.add_argument("--stock", action="store_true")
    args = parser.parse_args(argv)

    if args.stock:
        app = _stock_app(args)
    else:
        app = build_app(args.app, broker=args.broker, processing_guarantee=args.guarantee,
                        topic_partitions=args.partitions, standby_replicas=0, datadir=args.datadir,
                        commit_interval_s=args.commit_interval, commit_every=args.commit_every,
                        session_timeout_s=args.session_timeout)
    codecs: dict[str, Any] = {"key_type": bytes, "key_serializer": "raw", "value_serializer": "json"}
    source = app.topic(args.source, partitions=args.partitions, **codecs)
    output = app.topic(args.output, partitions=args.partitions, **codecs)
    counts = app.Table("counts", default=int, partitions=args.partitions)
    processed = 0

    @app.agent(source)
    async def count(stream: faust.StreamT) -> None:
        nonlocal processed
        async for event in stream.events():
            key = event.key.decode()
            if event.value.get("op") == "get":
                await output.send(key=event.key, value={
                    "kind": "state", "key": key, "count": counts[key], "processed": processed,
                    "pid": os.getpid()})
                continue
            counts[key] += 1
            processed += 1
            await output.send(key=event.key, value={
                "kind": "count", "id": event.value["id"], "key": key, "count": counts[key],
                "src": event.message.partition})

    faust.Worker(app, loglevel="info", quiet=True, redirect_stdouts=False).execute_from_commandline()


if __name__ == "__main__":
    main()
