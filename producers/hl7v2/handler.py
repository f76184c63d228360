"""One inbound HL7 v2 message to one ACK: parse, map, publish, acknowledge.

The handler is the adapter's whole policy and no I/O of its own: it is given the ports (an
`EventPublisher`, a `DeadLetterPublisher`) and the mapping function, and the MLLP server calls
`handle(frame, peer)` for each frame and writes back the bytes it returns.

- AA only once Kafka has acknowledged every event made from the message (the publisher is atomic).
- Bad input (parse, charset, mapping, unsupported type) is dead-lettered with its original bytes and
  the reason, then NAKed: AE for content the sender may fix and resend, AR for what we will never
  take. Nothing is dropped silently.
- Kafka not taking the events within the bound: AE with 207 and no dead letter, so the sender
  retries the same message; nothing of it is visible (its transaction was aborted).
- A resend of an MSH-10 already accepted from the same sender within the window (its ACK was lost)
  gets AA and is not published again.
- Anything unexpected (a bug) is dead-lettered as `internal-error` and NAKed AE; the connection and
  the server carry on. Logs name reason codes and control ids, never content.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from carebus.errors import PublishError
from carebus.events import Event
from carebus.publishing import DeadLetter, DeadLetterPublisher, EventPublisher
from producers.hl7v2.ack import build_ack
from producers.hl7v2.dedupe import ResendWindow
from producers.hl7v2.errors import AckCode, ErrorCode, Hl7Error, MappingError
from producers.hl7v2.metrics import Hl7Metrics
from producers.hl7v2.parsing import DEFAULT_PARSE_OPTIONS, MessageHeader, ParsedMessage, ParseOptions, parse_message

__all__ = ["DEADLETTER_STAGE", "HandlerConfig", "MapEvents", "MessageHandler", "sender_of"]

logger = logging.getLogger(__name__)

DEADLETTER_STAGE = "hl7v2"
DEFAULT_PUBLISH_TIMEOUT_S = 5.0
INTERNAL_ERROR = "internal-error"
PUBLISH_FAILED = "publish-failed"

MapEvents = Callable[[ParsedMessage, datetime], Sequence[Event]]
"""The mapping step: a parsed message and its receive time to canonical events (pure)."""


@dataclass(frozen=True)
class HandlerConfig:
    publish_timeout_s: float = DEFAULT_PUBLISH_TIMEOUT_S
    # Options per sending application (MSH-3.1); senders not listed get `default_parse_options`.
    parse_options: dict[str, ParseOptions] | None = None
    default_parse_options: ParseOptions = DEFAULT_PARSE_OPTIONS
    ack_control_id_prefix: str = "CB"


def sender_of(header: MessageHeader) -> str:
    """`app^facility` from MSH-3.1 and MSH-4.1: who sent it, for dedupe and dead-letter headers."""
    app = header.sending_application.namespace_id if header.sending_application else ""
    facility = header.sending_facility.namespace_id if header.sending_facility else ""
    return f"{app or ''}^{facility or ''}"


class MessageHandler:
    def __init__(
        self,
        *,
        publisher: EventPublisher,
        deadletters: DeadLetterPublisher,
        map_events: MapEvents,
        resends: ResendWindow,
        metrics: Hl7Metrics,
        config: HandlerConfig = HandlerConfig(),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._publisher = publisher
        self._deadletters = deadletters
        self._map_events = map_events
        self._resends = resends
        self._metrics = metrics
        self._config = config
        self._clock = clock
        self._ack_ids = itertools.count(1)
        self._ack_prefix = f"{config.ack_control_id_prefix}{int(time.time())}-"

    async def handle(self, frame: bytes, peer: str) -> bytes:
        started = time.perf_counter()
        received_at = self._clock()
        message_type = "unparsed"
        try:
            try:
                parsed = parse_message(frame, self._parse_options_for(frame))
            except Hl7Error as error:
                return await self._reject(frame, peer, error, message_type)
            header = parsed.header
            message_type = self._metrics.message_type_label(header.message_code, header.trigger_event)
            self._metrics.received(message_type, len(frame))
            sender = sender_of(header)
            if self._resends.seen(sender, header.control_id):
                logger.info("resend of control id %s from %s acknowledged without publishing",
                            header.control_id, sender)
                return self._ack(AckCode.AA, parsed, message_type, outcome="duplicate")
            try:
                events = self._map_events(parsed, received_at)
            except Hl7Error as error:
                return await self._reject(frame, peer, error, message_type, parsed=parsed)
            try:
                # asyncio.timeout, not wait_for: the publish runs in this task, not in one made per message.
                async with asyncio.timeout(self._config.publish_timeout_s):
                    await self._publisher.publish(events)
            except (PublishError, TimeoutError) as exc:
                # Transient: the sender keeps the message and retries; nothing of it became visible.
                logger.warning("control id %s from %s not published (%s); answering AE",
                               header.control_id, sender, type(exc).__name__)
                return self._ack(AckCode.AE, parsed, message_type, outcome=PUBLISH_FAILED)
            self._resends.remember(sender, header.control_id)
            return self._ack(AckCode.AA, parsed, message_type, outcome="published", events=len(events))
        except Exception as exc:  # an integration engine answers every message, even when it has a bug
            logger.error("internal error handling a %s message from %s: %s", message_type, peer, type(exc).__name__)
            await self._dead_letter(frame, peer, INTERNAL_ERROR, "")
            error = MappingError(INTERNAL_ERROR, error_code=ErrorCode.APPLICATION_INTERNAL_ERROR, ack_code=AckCode.AE)
            return self._nak(error, None, message_type)
        finally:
            self._metrics.observe_latency(message_type, time.perf_counter() - started)

    async def reject(self, frame: bytes | None, peer: str, error: Hl7Error) -> bytes:
        """NAK a frame the framer refused; dead-letter whatever bytes of it were kept."""
        return await self._reject(frame or b"", peer, error, "unparsed")

    def _parse_options_for(self, frame: bytes) -> ParseOptions:
        options = self._config.parse_options
        if not options:
            return self._config.default_parse_options
        # MSH-3 sits before any PHI; a cheap look at it picks the sender's options before the full parse.
        head = frame[:256]
        for sender, sender_options in options.items():
            if f"|{sender}".encode() in head:
                return sender_options
        return self._config.default_parse_options

    async def _reject(self, frame: bytes, peer: str, error: Hl7Error, message_type: str,
                      parsed: ParsedMessage | None = None) -> bytes:
        if parsed is None:
            self._metrics.received(message_type, len(frame))
        detail = str(error.location) if error.location is not None else ""
        sender = sender_of(parsed.header) if parsed is not None else ""
        logger.info("rejected a %s message from %s: %s at %s", message_type, peer, error.reason, detail or "-")
        await self._dead_letter(frame, peer, str(error.reason), detail, sender)
        reply_to = parsed.header.reply_to if parsed is not None else getattr(error, "reply_to", None)
        return self._nak(error, reply_to, message_type)

    async def _dead_letter(self, frame: bytes, peer: str, reason: str, detail: str, sender: str = "") -> None:
        letter = DeadLetter(stage=DEADLETTER_STAGE, original=frame, reason=reason, detail=detail,
                            sender=sender or peer)
        try:
            await asyncio.wait_for(self._deadletters.publish(letter), self._config.publish_timeout_s)
        except Exception as exc:
            # The NAK still goes out: the sender holds the original and will resend or alert.
            logger.error("dead letter for a %s rejection not written: %s", reason, type(exc).__name__)

    def _nak(self, error: Hl7Error, reply_to: object, message_type: str) -> bytes:
        self._metrics.acked(message_type, error.ack_code.value, outcome="rejected")
        return build_ack(error.ack_code, reply_to=reply_to,  # type: ignore[arg-type]
                         control_id=self._next_ack_id(), timestamp=self._clock(), error=error)

    def _ack(self, code: AckCode, parsed: ParsedMessage, message_type: str, *, outcome: str,
             events: int = 0) -> bytes:
        self._metrics.acked(message_type, code.value, outcome=outcome, events=events)
        return build_ack(code, reply_to=parsed.header.reply_to, control_id=self._next_ack_id(),
                         timestamp=self._clock())

    def _next_ack_id(self) -> str:
        return f"{self._ack_prefix}{next(self._ack_ids)}"
