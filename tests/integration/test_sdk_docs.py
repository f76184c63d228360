"""The "Publishing an event" / "Subscribing to a topic" examples of docs/sdk.md and README.md, run as written
against the real broker and registry (in a subprocess, with the environment a user would set)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from carebus.events import event_schema
from carebus.kafka.config import KafkaConnection
from carebus.registry.server import running_registry
from carebus.topics import canonical_topic, deadletter_topic, normalized_topic

REPO = Path(__file__).resolve().parents[2]
SECTIONS = ("Publishing an event", "Subscribing to a topic")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^```(\w*)\s*$")


def python_blocks(markdown: str, heading: str) -> list[str]:
    """The fenced python blocks under `heading`, up to the next heading of the same or a higher level."""
    blocks: list[str] = []
    level: int | None = None
    block: list[str] | None = None
    fence_language = ""
    for line in markdown.splitlines():
        fence = _FENCE.match(line)
        if block is not None:
            if fence and not fence.group(1):
                if fence_language == "python":
                    blocks.append("\n".join(block) + "\n")
                block = None
            else:
                block.append(line)
            continue
        if fence:
            block, fence_language = [], fence.group(1)
            if level is None:
                fence_language = ""
            continue
        match = _HEADING.match(line)
        if match:
            depth = len(match.group(1))
            if match.group(2) == heading:
                level = depth
            elif level is not None and depth <= level:
                level = None
    return blocks


def test_python_blocks_are_taken_from_under_their_heading_only() -> None:
    text = ("# A\n```python\nskip()\n```\n## Publishing an event\nprose\n```python\nfirst()\n```\n"
            "```sh\nnot python\n```\n### detail\n```python\nsecond()\n```\n## Other\n```python\nskip()\n```\n")
    assert python_blocks(text, "Publishing an event") == ["first()\n", "second()\n"]
    assert python_blocks(text, "Missing") == []


@pytest.fixture(scope="module")
def stack(kafka_connection: KafkaConnection, kafka_bootstrap: str) -> Iterator[dict[str, str]]:
    """The bus as an operator leaves it: carebus's topics exist and its contracts are registered."""
    admin = AdminClient(kafka_connection.as_librdkafka_dict())
    wanted = [canonical_topic("result"), normalized_topic("result"), deadletter_topic("sdk")]
    existing = set(admin.list_topics(timeout=30).topics)
    missing = [NewTopic(name, 3, 1) for name in wanted if name not in existing]
    if missing:
        for future in admin.create_topics(missing).values():
            future.result(timeout=30)
    with running_registry(kafka_connection, topic=f"_schemas-docs-{uuid.uuid4().hex[:8]}") as url, \
            SchemaRegistryClient({"url": url}) as client:
        for topic in wanted[:2]:
            client.register_schema(f"{topic}-value", Schema(json.dumps(event_schema("result")), "AVRO"))
        yield {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "SCHEMA_REGISTRY_URL": url}


@pytest.mark.parametrize("document", ["docs/sdk.md", "README.md"])
def test_the_publish_and_subscribe_examples_run_as_written(document: str, stack: dict[str, str],
                                                           tmp_path: Path) -> None:
    text = (REPO / document).read_text(encoding="utf-8")
    blocks = {section: python_blocks(text, section) for section in SECTIONS}
    assert all(blocks.values()), f"{document} must have a python example under each of {SECTIONS}"
    for section, code in blocks.items():
        script = tmp_path / f"{section.replace(' ', '_')}.py"
        script.write_text("\n".join(code), encoding="utf-8")
        done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env={**os.environ, **stack},
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, f"{document} / {section} failed:\n{done.stderr[-3000:]}"
        assert done.stdout.strip(), f"{document} / {section} printed nothing"
