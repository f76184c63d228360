"""Run a processor worker in this process, and prepare a cluster for it.

`run_worker(options, registry=...)` blocks until the worker is stopped (SIGTERM, SIGINT) and is what
`carebus processors worker` calls; start more of them (`carebus processors run --workers N`, or more
machines) with the same app id and the partitions spread over them. `required_topics` lists what must exist
before a worker starts: the canonical, normalized and dead-letter topics of the topology (faust creates its own
internal ones: the identity topic, the retry topics and the table changelogs) and the routing rules' subscriber
topics.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import faust
from prometheus_client import REGISTRY, CollectorRegistry

from carebus.ids import TopicName
from carebus.serde import RegistryPort
from carebus.topics import TopicSpec, topic_spec
from processors.agents import build_processor_app
from processors.app import CarebusApp
from processors.config_files import ConfigFiles
from processors.metrics import ProcessorMetrics
from processors.options import ProcessorOptions
from processors.steps import IDENTITY, NORMALIZE, OWNERSHIP, ROUTING

__all__ = ["PROCESSOR_STAGES", "build_worker_app", "required_topics", "run_worker"]

logger = logging.getLogger(__name__)

PROCESSOR_STAGES = (NORMALIZE, OWNERSHIP, IDENTITY, ROUTING)
"""The dead-letter stages the processors write to."""


def build_worker_app(options: ProcessorOptions, *, registry: RegistryPort,
                     metrics_registry: CollectorRegistry = REGISTRY) -> CarebusApp:
    return build_processor_app(options, registry=registry, metrics=ProcessorMetrics(metrics_registry))


def run_worker(options: ProcessorOptions, *, registry: RegistryPort, metrics_registry: CollectorRegistry = REGISTRY,
               loglevel: str = "info") -> None:
    """Run one worker until it is stopped; faust's worker installs the signal handlers and exits the process."""
    app = build_worker_app(options, registry=registry, metrics_registry=metrics_registry)
    logger.info("processors %s: worker starting (guarantee %s, config %s)", options.topology.app_id,
                options.guarantee, options.config_dir)
    faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False).execute_from_commandline()


def required_topics(options: ProcessorOptions) -> list[TopicSpec]:
    """The topics a worker reads or writes and does not create itself, as catalog specs (prefixed for tests)."""
    topology = options.topology
    specs: list[TopicSpec] = []
    for canonical, normalized in zip(topology.canonical_topics, topology.normalized_topics, strict=True):
        for name in (canonical, normalized):
            base = topic_spec(name.removeprefix(topology.prefix))
            specs.append(_renamed(base, name, topology.partitions))
    for stage in PROCESSOR_STAGES:
        name = topology.deadletter(stage)
        specs.append(_renamed(topic_spec(name.removeprefix(topology.prefix)), name, None))
    rules = ConfigFiles(options.config_dir).load().routing
    for topic in rules.topics:
        specs.append(TopicSpec(name=TopicName(topic), description="a routing rule's subscriber topic",
                               key="enterprise patient id", value_schema=None, partitions=topology.partitions))
    return specs


def _renamed(spec: TopicSpec, name: str, partitions: int | None) -> TopicSpec:
    return replace(spec, name=TopicName(name), partitions=partitions or spec.partitions)
