"""registry_lookup: the built-in registry answering the two lookups every client makes, over HTTP.

`GET /schemas/ids/{id}` (a deserializer meeting a new schema id) and `POST /subjects/{s}` (a
serializer finding its schema's id) on one keep-alive connection, next to `GET /` on the same
server in the same run: the floor the HTTP stack sets.
"""

from __future__ import annotations

import json
import uuid

import httpx

from bench._harness import Result, Stage, measure_rate, summarize
from carebus.events import DOMAINS, event_schema
from carebus.kafka.config import KafkaConnection
from carebus.registry.server import running_registry

STAGE = "registry_lookup"
REQUESTS = 500
CONTENT_TYPE = {"Content-Type": "application/vnd.schemaregistry.v1+json"}


def run(bootstrap: str | None) -> list[Result]:
    if bootstrap is None:
        raise RuntimeError("registry_lookup needs a broker")
    connection = KafkaConnection(bootstrap)
    with running_registry(connection, topic=f"_schemas-bench-{uuid.uuid4().hex[:6]}") as url, \
            httpx.Client(base_url=url, timeout=10) as http:
        bodies = {domain: json.dumps({"schema": json.dumps(event_schema(domain))}) for domain in DOMAINS}
        ids = []
        for domain, body in bodies.items():
            response = http.post(f"/subjects/bench-{domain}-value/versions", content=body, headers=CONTENT_TYPE)
            response.raise_for_status()
            ids.append(response.json()["id"])

        def by_id() -> int:
            for index in range(REQUESTS):
                http.get(f"/schemas/ids/{ids[index % len(ids)]}").raise_for_status()
            return REQUESTS

        def by_schema() -> int:
            for index in range(REQUESTS):
                domain = DOMAINS[index % len(DOMAINS)]
                http.post(f"/subjects/bench-{domain}-value", content=bodies[domain],
                          headers=CONTENT_TYPE).raise_for_status()
            return REQUESTS

        def empty() -> int:
            for _ in range(REQUESTS):
                http.get("/").raise_for_status()
            return REQUESTS

        floor = summarize(STAGE, "root", "requests/s", measure_rate(empty))
        params = {"requests": REQUESTS, "subjects": len(DOMAINS), "connection": "one keep-alive"}
        return [
            summarize(STAGE, "lookup_by_id", "requests/s", measure_rate(by_id), params=params,
                      baseline="GET / on the same server", baseline_value=floor.value),
            summarize(STAGE, "lookup_by_schema", "requests/s", measure_rate(by_schema), params=params,
                      baseline="GET / on the same server", baseline_value=floor.value),
        ]


STAGE_DEF = Stage(STAGE, needs_broker=True, run=run)
