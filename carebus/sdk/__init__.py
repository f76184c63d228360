"""The carebus SDK: publish canonical events and subscribe to topics without Avro, registries or offsets.

    from carebus.sdk import Publisher, new_event

    with Publisher.connect(bootstrap="localhost:9092", registry="http://localhost:8081") as publisher:
        delivery = publisher.publish(new_event(result, event_type="result.finalized",
                                               source="LAB-VENDOR", subject="urn:oid:1.2.3|MRN-1"))

    from carebus.sdk import Subscriber

    with Subscriber.connect(bootstrap=..., registry=..., group="my-service", domain="result") as subscriber:
        subscriber.run(handle)          # handle(event) is called once per event; raise to retry

Delivery is at-least-once (see `carebus.sdk._subscriber`). Errors are in `carebus.sdk.errors`. This
package is part of the core: it imports no layer (producers, processors, consumers).
"""

from carebus.events import Event, Source, Subject
from carebus.sdk._context import Trace, correlation, current_trace, following
from carebus.sdk._envelope import SDK_PROTOCOL, check_event, new_envelope, new_event, parse_event
from carebus.sdk._publisher import Delivery, Publisher, Stage
from carebus.sdk._subscriber import (
    DEADLETTER_HEADER_OFFSET,
    DEADLETTER_HEADER_PARTITION,
    DEADLETTER_HEADER_TOPIC,
    REASON_HANDLER_FAILED,
    REASON_UNDECODABLE,
    Handler,
    Subscriber,
)
from carebus.sdk.errors import FieldProblem, InvalidEventError, PublishError, RegistryError, SdkError
from carebus.sdk.metrics import SubscriberMetrics
from carebus.sdk.retry import RetryPolicy

__all__ = [
    "DEADLETTER_HEADER_OFFSET",
    "DEADLETTER_HEADER_PARTITION",
    "DEADLETTER_HEADER_TOPIC",
    "REASON_HANDLER_FAILED",
    "REASON_UNDECODABLE",
    "SDK_PROTOCOL",
    "Delivery",
    "Event",
    "FieldProblem",
    "Handler",
    "InvalidEventError",
    "PublishError",
    "Publisher",
    "RegistryError",
    "RetryPolicy",
    "SdkError",
    "Source",
    "Stage",
    "Subject",
    "Subscriber",
    "SubscriberMetrics",
    "Trace",
    "check_event",
    "correlation",
    "current_trace",
    "following",
    "new_envelope",
    "new_event",
    "parse_event",
]
