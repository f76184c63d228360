"""The ingest service: one FHIR interaction in, canonical events on Kafka, one reply out. No HTTP here.

    create / update / transaction / batch
      -> authorize (scopes) -> parse (exact decimals) -> conditional checks under a guard
      -> map (pure) -> publish (awaited: the reply waits for Kafka) -> remember -> reply

Bad input (FhirInputError) is answered 4xx with an OperationOutcome and its bytes go to the dead-letter port
with the reason; nothing is published. A broker or registry that fails answers 503 (Retry-After), publishes
nothing (a transaction is atomic) and leaves no idempotency record, so the client's retry is safe. A transaction
is one `EventPublisher.publish` call; a batch publishes each unit (an entry, or a report with its Observations)
on its own, concurrently, so they share the group commit.

`Idempotency-Key` (scoped to the client): the same key with the same request replays the stored reply and
publishes nothing; the same key with a different request is 422; a key still in flight is 409.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final, Literal

from carebus.errors import KafkaError, RegistryError
from carebus.events import Event
from carebus.publishing import DeadLetter, DeadLetterPublisher, EventPublisher, domain_of
from producers.fhir import _json
from producers.fhir._plans import (
    Failure,
    Planned,
    aggregate,
    bundle_entries,
    check_id,
    flag_duplicates,
    guard_keys,
)
from producers.fhir.auth import Principal
from producers.fhir.errors import (
    ConditionalRequestError,
    FhirInputError,
    Issue,
    MalformedRequestError,
    UnsupportedInteractionError,
    UnsupportedResourceError,
)
from producers.fhir.idempotency import BeginState, IdempotencyStore, KnownResource, StoredReply
from producers.fhir.interactions import (
    EntryTarget,
    echo,
    entry_target,
    fingerprint,
    http_date,
    identifiers_of,
    location,
    parse_criteria,
    parse_if_match,
)
from producers.fhir.mapping import (
    DEFAULT_PATIENT_IDENTIFIER_TYPES,
    DEFAULT_REFERRAL_CODES,
    SUPPORTED_RESOURCE_TYPES,
    BundleEntry,
    BundleShell,
    EntryInput,
    MappingContext,
    Unit,
    map_entries,
    read_bundle,
)
from producers.fhir.metrics import FhirMetrics
from producers.fhir.outcome import operation_outcome, outcome_detail

__all__ = ["DEADLETTER_STAGE", "IngestRequest", "IngestService", "PreferReturn", "Reply"]

logger = logging.getLogger(__name__)

DEADLETTER_STAGE: Final = "fhir"
RETRY_AFTER_S: Final = "5"
IDEMPOTENCY_KEY_MAX: Final = 255

PreferReturn = Literal["minimal", "representation", "OperationOutcome"]
RequestKind = Literal["create", "update", "bundle"]


@dataclass(frozen=True)
class IngestRequest:
    """One interaction, as the HTTP layer read it."""

    kind: RequestKind
    principal: Principal
    body: bytes = field(repr=False)
    resource_type: str | None = None
    resource_id: str | None = None
    criteria: str | None = None
    """A conditional update's query (`identifier=...`)."""
    prefer: PreferReturn = "representation"
    if_none_exist: str | None = None
    if_match: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Reply:
    """What to answer: status, headers, a FHIR JSON body (or none), and labels for the metrics."""

    status: int
    body: bytes = field(default=b"", repr=False)
    headers: Mapping[str, str] = field(default_factory=dict)
    outcome: str = "ok"
    resource_type: str | None = None
    interaction: str | None = None
    """`transaction` or `batch` for a Bundle, once its type is known."""


class _Unavailable(Exception):  # noqa: N818 - internal signal, never leaves this module
    """The broker or the registry failed: answer 503 and let the client retry."""


class _Refused(Exception):  # noqa: N818 - internal signal, never leaves this module
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.reason)
        self.failure = failure


class IngestService:
    """Runs the interactions against the ports; `build_app` puts HTTP in front of it."""

    def __init__(
        self,
        *,
        publisher: EventPublisher,
        deadletters: DeadLetterPublisher,
        idempotency: IdempotencyStore,
        base_url: str,
        clock: Callable[[], datetime],
        id_factory: Callable[[], str],
        metrics: FhirMetrics | None = None,
        patient_identifier_types: tuple[str, ...] = DEFAULT_PATIENT_IDENTIFIER_TYPES,
        referral_codes: frozenset[tuple[str, str]] = DEFAULT_REFERRAL_CODES,
    ) -> None:
        if not base_url.startswith(("http://", "https://")) or base_url.endswith("/"):
            raise ValueError("base_url must be an absolute http(s) URL without a trailing slash")
        self._publisher = publisher
        self._deadletters = deadletters
        self._store = idempotency
        self.base_url = base_url
        self._clock = clock
        self._new_id = id_factory
        self._metrics = metrics
        self._identifier_types = patient_identifier_types
        self._referral_codes = referral_codes

    # --- entry point --------------------------------------------------------------------------------------

    async def handle(self, request: IngestRequest) -> Reply:
        if request.idempotency_key is None:
            return await self._answer(request)
        key = request.idempotency_key
        if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable() or not key.isascii():
            return self._reply_failure(request, Failure.one(
                400, "invalid", None, "Idempotency-Key must be 1 to 255 printable ASCII characters",
                "invalid-idempotency-key", dead_letter=False))
        scoped = f"{request.principal.name}\x00{key}"
        begun = await self._store.begin(scoped, fingerprint(
            request.kind, request.resource_type, request.resource_id, request.criteria, request.prefer,
            request.if_none_exist, request.if_match, request.body))
        if begun.state is BeginState.REPLAY and begun.reply is not None:
            stored = begun.reply
            return Reply(stored.status, stored.body, {**stored.headers, "Idempotent-Replayed": "true"},
                         "replayed", _type_label(request))
        if begun.state is BeginState.MISMATCH:
            return self._reply_failure(request, Failure.one(
                422, "business-rule", None, "this Idempotency-Key was used with a different request",
                "idempotency-key-reused", dead_letter=False))
        if begun.state is BeginState.IN_FLIGHT:
            reply = self._reply_failure(request, Failure.one(
                409, "conflict", None, "a request with this Idempotency-Key is in progress",
                "idempotency-key-in-flight", dead_letter=False))
            return Reply(reply.status, reply.body, {**reply.headers, "Retry-After": "1"}, "conflict",
                         _type_label(request))
        try:
            reply = await self._answer(request)
        except BaseException:
            await self._store.abandon(scoped)
            raise
        if reply.status >= 500:
            await self._store.abandon(scoped)
        else:
            await self._store.finish(scoped, StoredReply(reply.status, dict(reply.headers), reply.body))
        return reply

    async def _answer(self, request: IngestRequest) -> Reply:
        try:
            if request.kind == "bundle":
                return await self._bundle(request)
            return await self._single(request)
        except (FhirInputError, ConditionalRequestError) as exc:
            return await self._refuse(request, Failure.of(exc))
        except _Refused as refused:
            return await self._refuse(request, refused.failure)
        except _Unavailable:
            return self._unavailable(request)

    # --- one resource: create and update -----------------------------------------------------------------

    def _authorize(self, principal: Principal, resource_type: str, interaction: Literal["create", "update"],
                   where: str | None) -> Failure | None:
        if principal.may(resource_type, interaction):
            return None
        return Failure.one(403, "forbidden", where, f"the token's scopes do not allow {interaction} of {resource_type}",
                           "insufficient-scope", dead_letter=False)

    async def _single(self, request: IngestRequest) -> Reply:
        kind = request.resource_type or ""
        interaction: Literal["create", "update"] = "update" if request.kind == "update" else "create"
        if kind not in SUPPORTED_RESOURCE_TYPES:
            raise UnsupportedResourceError.for_type(kind, None)
        forbidden = self._authorize(request.principal, kind, interaction, None)
        if forbidden is not None:
            raise _Refused(forbidden)
        data = _json.loads(request.body)
        if data.get("resourceType") != kind:
            raise MalformedRequestError([Issue("invalid", f"{kind}.resourceType" if "resourceType" in data else None,
                                               f"the body must be a {kind} resource")])
        check_id(data, f"{kind}.id")
        planned = Planned(index=0, resource=data, full_url=None, target=EntryTarget(kind),
                           interaction=interaction)
        if interaction == "create" and request.if_none_exist is not None:
            planned.if_none_exist = parse_criteria(kind, request.if_none_exist, expression=None)
        if interaction == "update":
            planned.target = self._update_target(request, data)
            if request.if_match is not None:
                planned.if_match = parse_if_match(request.if_match, expression=None)
        elif isinstance(data.get("id"), str):
            planned.target = EntryTarget(kind, resource_id=data["id"])
        async with self._store.guard(guard_keys([planned])):
            await self._resolve(planned, where=None)
            received = self._clock()
            if planned.matched is not None:
                return self._existing(request, planned.matched)
            ctx = self._context(request.principal, received, f"{kind}/{planned.resource_id}/_history/"
                                                             f"{planned.version}")
            (unit,) = map_entries([EntryInput(None, {**data, "id": planned.resource_id},
                                              interaction=interaction)], ctx)
            if unit.error is not None:
                raise unit.error
            await self._publish(unit.events)
            body = echo(data, planned.resource_id or "", planned.version, received)
            await self._store.remember([self._known(planned, body, received)])
        return self._written(request, planned, body, received)

    def _update_target(self, request: IngestRequest, data: Mapping[str, Any]) -> EntryTarget:
        kind = request.resource_type or ""
        sent_id = data.get("id")
        if request.resource_id is not None:
            if sent_id != request.resource_id:
                raise MalformedRequestError([Issue("invalid", f"{kind}.id",
                                                   "an update's resource id must equal the id in the URL")])
            return EntryTarget(kind, resource_id=request.resource_id)
        if not request.criteria:
            raise MalformedRequestError([Issue("invalid", None, "an update needs [type]/[id] or search criteria")])
        return EntryTarget(kind, criteria=parse_criteria(kind, request.criteria, expression=None))

    async def _resolve(self, planned: Planned, *, where: str | None) -> None:
        """Apply conditional create/update and If-Match; fix the id and the version. Call under the guard."""
        kind = planned.target.resource_type
        if planned.if_none_exist is not None:
            criteria = planned.if_none_exist
            matches = await self._store.find(kind, criteria.system, criteria.value)
            if len(matches) > 1:
                raise ConditionalRequestError(412, Issue("duplicate", where, "the criteria match more than one "
                                                                             "resource"), reason="multiple-matches")
            if matches:
                planned.matched = matches[0]
                planned.resource_id = matches[0].id
                return
        resource_id = planned.target.resource_id
        if planned.target.criteria is not None:
            criteria = planned.target.criteria
            matches = await self._store.find(kind, criteria.system, criteria.value)
            if len(matches) > 1:
                raise ConditionalRequestError(412, Issue("duplicate", where, "the criteria match more than one "
                                                                             "resource"), reason="multiple-matches")
            sent_id = planned.resource.get("id")
            if matches and isinstance(sent_id, str) and sent_id != matches[0].id:
                raise MalformedRequestError([Issue("invalid", where, "the resource id differs from the resource "
                                                                     "the criteria match")])
            resource_id = matches[0].id if matches else (sent_id if isinstance(sent_id, str) else None)
        planned.resource_id = resource_id or self._new_id()
        known = await self._store.known(kind, planned.resource_id)
        if planned.if_match is not None and (known is None or known.version != planned.if_match):
            raise ConditionalRequestError(412, Issue("conflict", where, "If-Match does not name the current "
                                                                        "version"), reason="version-mismatch")
        planned.existed = known is not None
        planned.version = known.version + 1 if known is not None else 1

    # --- Bundles: transaction and batch -------------------------------------------------------------------

    async def _bundle(self, request: IngestRequest) -> Reply:
        data = _json.loads(request.body)
        if data.get("resourceType") != "Bundle":
            raise MalformedRequestError([Issue("invalid", None, "POST to the base takes a transaction or batch "
                                                                "Bundle")])
        shell = read_bundle(data)
        try:
            reply = await self._process_bundle(request, shell)
        except _Refused as refused:
            reply = await self._refuse(request, refused.failure)
        return replace(reply, interaction=shell.type if shell.type in ("transaction", "batch") else None)

    async def _process_bundle(self, request: IngestRequest, shell: BundleShell) -> Reply:
        if shell.type not in ("transaction", "batch"):
            raise _Refused(Failure.one(422, "not-supported", "Bundle.type",
                                       "only transaction and batch Bundles are processed",
                                       UnsupportedInteractionError.reason))
        failures: dict[int, Failure] = {}
        plans: list[Planned] = []
        for entry in shell.entries:
            try:
                plans.append(self._plan(request.principal, entry))
            except (FhirInputError, ConditionalRequestError) as exc:
                failures[entry.index] = Failure.of(exc)
            except _Refused as refused:
                failures[entry.index] = refused.failure
        flag_duplicates(plans, failures)
        transaction = shell.type == "transaction"
        if transaction and failures:
            raise _Refused(aggregate(failures))
        received = self._clock()
        message_id = shell.message_id or f"Bundle/{self._new_id()}"
        async with self._store.guard(guard_keys(plans)):
            for plan in plans:
                if plan.index in failures:
                    continue
                try:
                    await self._resolve(plan, where=f"Bundle.entry[{plan.index}].request")
                except (FhirInputError, ConditionalRequestError) as exc:
                    failures[plan.index] = Failure.of(exc)
            if transaction and failures:
                raise _Refused(aggregate(failures))
            live = [plan for plan in plans if plan.index not in failures]
            inputs = [EntryInput(plan.index, {**plan.resource, "id": plan.resource_id}, full_url=plan.full_url,
                                 interaction=plan.interaction, publish=plan.matched is None) for plan in live]
            # Entries of types this server does not ingest (Practitioner, Organization...) are still read
            # when a published resource points at them; entries refused for any other reason are not.
            context_only = {index for index, failure in failures.items()
                            if failure.reason == UnsupportedResourceError.reason}
            inputs += [EntryInput(entry.index, entry.resource, full_url=entry.full_url, publish=False)
                       for entry in shell.entries if entry.index in context_only and entry.resource is not None]
            units = map_entries(inputs, self._context(request.principal, received, message_id))
            for unit in units:
                if unit.error is not None:
                    for index in unit.entries:
                        failures[index] = Failure.of(unit.error)
            if transaction and failures:
                raise _Refused(aggregate(failures))
            published = await self._publish_units(units, transaction=transaction, failures=failures)
            bodies = {plan.index: echo(plan.resource, plan.resource_id or "", plan.version, received)
                      for plan in live if plan.matched is None and plan.index in published}
            await self._store.remember([self._known(plan, bodies[plan.index], received)
                                        for plan in live if plan.index in bodies])
        if failures and any(failure.dead_letter for failure in failures.values()):
            await self._dead_letter(request, aggregate(failures))
        entries = bundle_entries(self.base_url, len(shell.entries), plans, failures, received)
        body = {"resourceType": "Bundle", "type": f"{shell.type}-response", "entry": entries}
        outcome = "rejected" if failures and len(failures) == len(shell.entries) else "processed"
        return Reply(200, _json.dumps(body), {}, outcome, "Bundle", shell.type)

    def _plan(self, principal: Principal, entry: BundleEntry) -> Planned:
        index, method, resource = entry.index, entry.method, entry.resource
        where = f"Bundle.entry[{index}]"
        if method is None:
            raise MalformedRequestError([Issue("required", f"{where}.request",
                                               "every transaction/batch entry needs a request")])
        if resource is None:
            raise UnsupportedInteractionError([Issue("not-supported", f"{where}.request.method",
                                                     "only create (POST) and update (PUT) are supported")])
        kind = resource.get("resourceType")
        if not isinstance(kind, str):
            raise MalformedRequestError([Issue("required", f"{where}.resource.resourceType",
                                               "the entry's resource has no resourceType")])
        target = entry_target(method, entry.url, kind, SUPPORTED_RESOURCE_TYPES, index=index)
        interaction: Literal["create", "update"] = "create" if method == "POST" else "update"
        forbidden = self._authorize(principal, kind, interaction, f"{where}.request")
        if forbidden is not None:
            raise _Refused(forbidden)
        check_id(resource, f"{where}.resource.id")
        sent_id = resource.get("id")
        if interaction == "update" and target.resource_id is not None and sent_id not in (None, target.resource_id):
            raise MalformedRequestError([Issue("invalid", f"{where}.resource.id",
                                               "the resource id must equal the id in request.url")])
        if interaction == "create" and isinstance(sent_id, str):
            target = EntryTarget(kind, resource_id=sent_id)
        plan = Planned(index=index, resource=dict(resource), full_url=entry.full_url, target=target,
                        interaction=interaction)
        if entry.if_none_exist is not None and interaction == "create":
            plan.if_none_exist = parse_criteria(kind, entry.if_none_exist,
                                                expression=f"{where}.request.ifNoneExist")
        if entry.if_match is not None:
            plan.if_match = parse_if_match(entry.if_match, expression=f"{where}.request.ifMatch")
        return plan

    async def _publish_units(self, units: Sequence[Unit], *, transaction: bool,
                             failures: dict[int, Failure]) -> set[int]:
        """Publish; return the entry indexes whose events Kafka has. A transaction is one publish call."""
        good = [unit for unit in units if unit.error is None]
        if transaction:
            await self._publish([event for unit in good for event in unit.events])
            return {index for unit in good for index in unit.entries}
        results = await asyncio.gather(*(self._publish(unit.events) for unit in good), return_exceptions=True)
        published: set[int] = set()
        for unit, result in zip(good, results, strict=True):
            if isinstance(result, _Unavailable):
                for index in unit.entries:
                    failures[index] = Failure.one(503, "transient", None, "the event bus is unavailable; retry later",
                                                  "unavailable", dead_letter=False)
            elif isinstance(result, BaseException):
                raise result
            else:
                published.update(unit.entries)
        return published

    # --- shared pieces ------------------------------------------------------------------------------------

    def _context(self, principal: Principal, received: datetime, message_id: str) -> MappingContext:
        return MappingContext(
            base_url=self.base_url,
            source_system=self.base_url if principal.anonymous else principal.name,
            source_facility=principal.facility,
            received_at=received,
            new_event_id=self._new_id,
            message_id=message_id,
            patient_identifier_types=self._identifier_types,
            referral_codes=self._referral_codes,
        )

    async def _publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        try:
            await self._publisher.publish(events)
        except (KafkaError, RegistryError) as exc:
            logger.warning("publishing %d events failed: %s", len(events), type(exc).__name__)
            raise _Unavailable from exc
        if self._metrics is not None:
            for event in events:
                self._metrics.events.labels(domain_of(event), event.envelope.event_type).inc()

    def _known(self, planned: Planned, body: Mapping[str, Any], received: datetime) -> KnownResource:
        return KnownResource(resource_type=planned.target.resource_type, id=planned.resource_id or "",
                             version=planned.version, last_updated=received,
                             identifiers=identifiers_of(planned.resource), body=_json.dumps(body))

    def _headers(self, kind: str, resource_id: str, version: int, moment: datetime) -> dict[str, str]:
        return {"Location": location(self.base_url, kind, resource_id, version), "ETag": f'W/"{version}"',
                "Last-Modified": http_date(moment)}

    def _written(self, request: IngestRequest, planned: Planned, body: Mapping[str, Any],
                 received: datetime) -> Reply:
        kind = planned.target.resource_type
        updated = planned.existed and planned.interaction == "update"
        status = 200 if updated else 201
        headers = self._headers(kind, planned.resource_id or "", planned.version, received)
        verb = "updated" if updated else "created"
        return Reply(status, self._representation(request.prefer, body, f"{kind} {verb}"), headers,
                     verb, kind)

    def _existing(self, request: IngestRequest, known: KnownResource) -> Reply:
        headers = self._headers(known.resource_type, known.id, known.version, known.last_updated)
        if request.prefer == "representation":
            return Reply(200, known.body, headers, "exists", known.resource_type)
        body = _json.loads(known.body)
        return Reply(200, self._representation(request.prefer, body, "a matching resource already exists"),
                     headers, "exists", known.resource_type)

    @staticmethod
    def _representation(prefer: PreferReturn, body: Mapping[str, Any], what: str) -> bytes:
        if prefer == "minimal":
            return b""
        if prefer == "OperationOutcome":
            return _json.dumps(operation_outcome([Issue("informational", None, what, "information")]))
        return _json.dumps(body)

    async def _refuse(self, request: IngestRequest, failure: Failure) -> Reply:
        logger.info("fhir %s refused: reason=%s status=%d resource_type=%s issues=%d", request.kind,
                    failure.reason, failure.status, request.resource_type or "-", len(failure.issues))
        if failure.dead_letter:
            await self._dead_letter(request, failure)
        return self._reply_failure(request, failure)

    def _reply_failure(self, request: IngestRequest, failure: Failure) -> Reply:
        outcome = {401: "unauthorized", 403: "forbidden", 404: "not-found", 409: "conflict",
                   412: "precondition-failed"}.get(failure.status, "rejected")
        return Reply(failure.status, _json.dumps(operation_outcome(failure.issues)), {}, outcome, _type_label(request))

    def _unavailable(self, request: IngestRequest) -> Reply:
        body = operation_outcome([Issue("transient", None, "the event bus is unavailable; nothing was accepted; "
                                                           "retry later")])
        return Reply(503, _json.dumps(body), {"Retry-After": RETRY_AFTER_S}, "unavailable", _type_label(request))

    async def _dead_letter(self, request: IngestRequest, failure: Failure) -> None:
        letter = DeadLetter(stage=DEADLETTER_STAGE, original=request.body, reason=failure.reason,
                            detail=outcome_detail(failure.issues), sender=request.principal.name)
        try:
            await self._deadletters.publish(letter)
        except Exception as exc:  # a lost dead letter must not turn the client's 4xx into a 500
            logger.error("dead letter not written: reason=%s error=%s", failure.reason, type(exc).__name__)
            return
        if self._metrics is not None:
            self._metrics.deadletters.labels(failure.reason).inc()


def _type_label(request: IngestRequest) -> str | None:
    return "Bundle" if request.kind == "bundle" else request.resource_type
