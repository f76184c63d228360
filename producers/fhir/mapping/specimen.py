"""A Reference(Specimen) -> canonical Specimen (Specimen is read for context, never ingested on its own).

A Specimen that is contained or in the same Bundle gives its identifier, accession identifier, type, body site,
collection time (`collectedDateTime`, or `collectedPeriod` start and end) and received time. One that cannot be
read is kept as its reference: `Reference.identifier`, else the reference's logical-id form.
"""

from __future__ import annotations

from typing import Any

from carebus.events import Specimen
from producers.fhir.mapping._context import Scope
from producers.fhir.mapping._datatypes import coded, first, identifier, to_utc

__all__ = ["specimen"]


def specimen(reference: Any, scope: Scope) -> Specimen | None:
    """The specimen `reference` points at, as far as it can be read."""
    target = scope.resolve(reference)
    if target is None and reference.identifier is None:
        return None
    resource = target.resource if target is not None else None
    if resource is None or target is None or target.resource_type != "Specimen":
        sent = identifier(reference.identifier)
        return Specimen(identifier=sent or (target.identity() if target is not None else None))
    collection = resource.collection
    collected = collection.collectedDateTime if collection is not None else None
    ended = None
    if collection is not None and collection.collectedPeriod is not None:
        collected = collection.collectedPeriod.start
        ended = collection.collectedPeriod.end
    return Specimen(
        identifier=identifier(first(resource.identifier)) or target.identity(),  # Specimen.identifier
        accession_identifier=identifier(resource.accessionIdentifier),  # Specimen.accessionIdentifier
        type=coded(resource.type),  # Specimen.type
        source_site=coded(collection.bodySite) if collection is not None else None,  # .collection.bodySite
        collected_at=to_utc(collected),  # Specimen.collection.collected[x]
        collection_end=to_utc(ended),  # Specimen.collection.collectedPeriod.end
        received_at=to_utc(resource.receivedTime),  # Specimen.receivedTime
    )
