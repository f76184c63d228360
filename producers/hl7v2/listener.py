"""Glue between the handler's `MapEvents` step and the mappings: the per-listener mapping context."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from carebus.events import Event
from producers.hl7v2.handler import MapEvents
from producers.hl7v2.mapping import MappingContext, map_message
from producers.hl7v2.parsing import ParsedMessage

__all__ = ["build_map_events"]


def build_map_events(**context_defaults: Any) -> MapEvents:
    """A `MapEvents` that maps with `MappingContext(received_at=..., **context_defaults)`.

    `context_defaults` are the listener's configured choices (source system, time zone, patient
    identifier rule, data classification); the receive time is the only per-message input.
    """
    template = MappingContext(received_at=datetime.fromtimestamp(0).astimezone(), **context_defaults)

    def map_events(parsed: ParsedMessage, received_at: datetime) -> Sequence[Event]:
        return map_message(parsed, dataclasses.replace(template, received_at=received_at))

    return map_events
