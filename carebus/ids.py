"""Distinct types for the ids that flow through carebus, so that they cannot be mixed up."""

from typing import NewType

__all__ = [
    "CorrelationId",
    "EnterpriseId",
    "EventId",
    "SchemaId",
    "SourcePatientId",
    "Subject",
    "TopicName",
]

EventId = NewType("EventId", str)
"""A canonical event's UUID (string form)."""

CorrelationId = NewType("CorrelationId", str)
"""Ties together every event made from one inbound message, across stages."""

SourcePatientId = NewType("SourcePatientId", str)
"""A patient identifier as the source system assigned it, qualified by its assigning authority."""

EnterpriseId = NewType("EnterpriseId", str)
"""The enterprise master patient index id, once identity resolution has run."""

TopicName = NewType("TopicName", str)
Subject = NewType("Subject", str)
SchemaId = NewType("SchemaId", int)
