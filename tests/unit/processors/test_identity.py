from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pytest

from carebus.events import Identifier
from processors.errors import ConfigFileError, IdentityError
from processors.identity import (
    EMPI_NAMESPACE,
    IdentityRule,
    Resolution,
    demographic_key,
    has_patient_identifier,
    identifier_key,
    load_identity_rule,
    resolve_identity,
)
from tests.unit.processors.builders import (
    GLUCOSE,
    HOSPITAL_MRN,
    fhir_patient,
    hl7_merge,
    hl7_patient,
    mrn,
    oru_result,
    patient,
)

RULE = IdentityRule()


class Index:
    """The three tables as dicts; `apply` writes a resolution as the resolve stage does."""

    def __init__(self) -> None:
        self.links: dict[str, str] = {}
        self.people: dict[str, str] = {}
        self.merges: dict[str, str] = {}

    def linked(self, key: str) -> str | None:
        return self.links.get(key)

    def person(self, key: str) -> str | None:
        return self.people.get(key)

    def replaced_by(self, enterprise_id: str) -> str | None:
        return self.merges.get(enterprise_id)

    def resolve(self, event: object, rule: IdentityRule = RULE) -> Resolution:
        resolution = resolve_identity(event, self, rule)  # type: ignore[arg-type]
        self.links.update(resolution.links)
        self.people.update(resolution.people)
        self.merges.update(resolution.merges)
        return resolution


def test_a_new_patient_gets_a_deterministic_id_from_its_primary_identifier() -> None:
    event = hl7_patient("MRN-1")
    first, again = Index().resolve(event), Index().resolve(event)
    assert first.method == "new"
    assert first.enterprise_id == again.enterprise_id  # a replay of the log gives the same ids
    assert first.enterprise_id == str(uuid.uuid5(EMPI_NAMESPACE, identifier_key(mrn("MRN-1"), "DEMOEHR")))


def test_later_events_with_a_linked_identifier_match_deterministically() -> None:
    index = Index()
    registered = index.resolve(hl7_patient("MRN-1"))
    result = index.resolve(oru_result("MRN-1", (GLUCOSE,)))
    assert (result.enterprise_id, result.method) == (registered.enterprise_id, "identifier")
    assert result.links == ()  # nothing new to link


def test_a_result_before_any_registration_creates_the_id_the_registration_then_finds() -> None:
    index = Index()
    early = index.resolve(oru_result("MRN-1", (GLUCOSE,)))
    registration = index.resolve(hl7_patient("MRN-1"))
    assert registration.enterprise_id == early.enterprise_id


def test_two_sources_for_one_person_match_by_demographics() -> None:
    index = Index()
    adt = index.resolve(hl7_patient("MRN-1", family="Zzexample", given="Qatest"))
    portal = index.resolve(fhir_patient("P-9", family="ZZÉXAMPLE", given="qatest"))  # case and accents differ
    assert (portal.enterprise_id, portal.method) == (adt.enterprise_id, "demographic")
    # and the portal's identifier is now linked: its next event matches on it
    assert index.resolve(fhir_patient("P-9", family="Renamed")).method == "identifier"


@pytest.mark.parametrize("change", [{"family": "Other"}, {"given": "Other"}, {"birth": date(1961, 7, 5)},
                                    {"sex": "male"}])
def test_one_differing_field_is_not_a_demographic_match(change: dict[str, object]) -> None:
    index = Index()
    adt = index.resolve(hl7_patient("MRN-1"))
    other = index.resolve(fhir_patient("P-9", **change))  # type: ignore[arg-type]
    assert other.enterprise_id != adt.enterprise_id and other.method == "new"


def test_the_rule_is_configurable() -> None:
    loose = IdentityRule(demographic_fields=("family", "birth_date"))
    index = Index()
    adt = index.resolve(hl7_patient("MRN-1"), loose)
    assert index.resolve(fhir_patient("P-9", given="Different", sex="male"), loose).enterprise_id == adt.enterprise_id
    off = IdentityRule(demographic_match=False)
    index = Index()
    index.resolve(hl7_patient("MRN-1"), off)
    assert index.resolve(fhir_patient("P-9"), off).method == "new"


def test_a_missing_field_means_no_demographic_key() -> None:
    unknown_sex = hl7_patient("MRN-1", sex="unknown").payload
    assert demographic_key(unknown_sex, RULE.demographic_fields) is None
    assert demographic_key(hl7_patient("MRN-1").payload, RULE.demographic_fields) is not None


def test_account_and_visit_numbers_are_never_matched_on() -> None:
    account = Identifier(value="ACCT-1", system=HOSPITAL_MRN, type_code="AN")
    index = Index()
    first = index.resolve(patient((mrn("MRN-1"), account), family="A", given="B", birth=date(1990, 1, 1), sex="male",
                                  system="DEMOEHR", protocol="hl7v2", message_type="ADT^A04"))
    other = index.resolve(patient((mrn("MRN-2"), account), family="C", given="D", birth=date(1991, 1, 1),
                                  sex="female", system="DEMOEHR", protocol="hl7v2", message_type="ADT^A04"))
    assert first.enterprise_id != other.enterprise_id


def test_an_identifier_without_authority_is_the_senders() -> None:
    bare = Identifier(value="123")
    assert identifier_key(bare, "LAB-A") != identifier_key(bare, "LAB-B")
    assert identifier_key(Identifier(value="123", system="X"), "LAB-A") == identifier_key(
        Identifier(value="123", system="X"), "LAB-B")


def test_a_merge_relinks_the_retired_record_and_everything_linked_to_it() -> None:
    index = Index()
    old = index.resolve(hl7_patient("MRN-OLD", family="Zzexample"))
    portal = index.resolve(fhir_patient("P-9", family="Zzexample"))  # linked to old by demographics
    new = index.resolve(hl7_patient("MRN-NEW", family="Zzexampel"))  # a typo: a second person
    assert portal.enterprise_id == old.enterprise_id != new.enterprise_id

    merge = index.resolve(hl7_merge("MRN-NEW", "MRN-OLD", family="Zzexampel"))
    assert (merge.enterprise_id, merge.method) == (new.enterprise_id, "merge")
    assert merge.merges == ((old.enterprise_id, new.enterprise_id),)
    for later in (oru_result("MRN-OLD", (GLUCOSE,)), oru_result("MRN-NEW", (GLUCOSE,)), fhir_patient("P-9")):
        assert index.resolve(later).enterprise_id == new.enterprise_id


def test_a_merge_into_an_unknown_survivor_keeps_the_persons_id() -> None:
    index = Index()
    old = index.resolve(hl7_patient("MRN-OLD"))
    merge = index.resolve(hl7_merge("MRN-NEW", "MRN-OLD"))
    assert merge.enterprise_id == old.enterprise_id
    assert index.resolve(oru_result("MRN-NEW", (GLUCOSE,))).enterprise_id == old.enterprise_id


def test_merges_chain() -> None:
    index = Index()
    ids = [index.resolve(hl7_patient(f"MRN-{n}", family=f"F{n}")).enterprise_id for n in range(3)]
    index.resolve(hl7_merge("MRN-1", "MRN-0", family="F1"))
    index.resolve(hl7_merge("MRN-2", "MRN-1", family="F2"))
    assert index.resolve(oru_result("MRN-0", (GLUCOSE,))).enterprise_id == ids[2]


def test_an_identifier_linked_to_someone_else_is_not_taken_over() -> None:
    index = Index()
    a = index.resolve(hl7_patient("MRN-A", family="A"))
    index.resolve(hl7_patient("MRN-B", family="B"))
    both = index.resolve(patient((mrn("MRN-A"), mrn("MRN-B")), family="A", given="Qatest", birth=date(1961, 7, 4),
                                 sex="female", system="DEMOEHR", protocol="hl7v2", message_type="ADT^A08"))
    assert both.enterprise_id == a.enterprise_id and both.links == ()  # B keeps its own id: no silent merge


def _no_identifiers() -> object:
    return oru_result("MRN-1", (GLUCOSE,), identifiers=())


def test_an_event_without_a_usable_identifier_is_refused() -> None:
    event = _no_identifiers()
    assert not has_patient_identifier(event, RULE)  # type: ignore[arg-type]
    with pytest.raises(IdentityError) as raised:
        Index().resolve(event)
    assert raised.value.reason == "no-patient-identifier"


def test_visit_numbers_alone_are_not_a_usable_identifier() -> None:
    visit: Sequence[Identifier] = (Identifier(value="V1", system="X", type_code="VN"),)
    assert not has_patient_identifier(oru_result("x", (GLUCOSE,), identifiers=visit), RULE)


def test_rule_file(tmp_path: Path) -> None:
    path = tmp_path / "identity.yaml"
    path.write_text("ignore_types: [an]\ndemographic_fields: [family, birth_year]\n")
    rule = load_identity_rule(path)
    assert rule.ignore_types == frozenset({"AN"}) and rule.demographic_fields == ("family", "birth_year")
    path.write_text("demographic_fields: [shoe_size]\n")
    with pytest.raises(ConfigFileError, match="demographic_fields"):
        load_identity_rule(path)
