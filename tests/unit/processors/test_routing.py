from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from carebus.events import to_avro_dict
from processors.config_files import ProcessorRules
from processors.errors import ConfigFileError
from processors.routing import RoutingRule, RoutingRules, field_values, load_routing_rules
from tests.unit.processors.builders import GLUCOSE, POTASSIUM, oru_result


def _record(critical: bool) -> dict[str, Any]:
    event = oru_result("MRN-1", (GLUCOSE, POTASSIUM))
    obs = event.payload.observations
    event = event.model_copy(update={"payload": event.payload.model_copy(update={
        "observations": (obs[0], obs[1].model_copy(update={"critical": critical}))})})
    data = to_avro_dict(event)
    data["envelope"]["data_classification"] = "phi"
    return data


def test_shipped_rules_fan_out_critical_results(rules: ProcessorRules) -> None:
    critical = rules.routing.targets("result.finalized", _record(critical=True))
    normal = rules.routing.targets("result.finalized", _record(critical=False))
    assert critical == ("subscriber.care-team.critical-results.v1", "subscriber.clinician-inbox.results.v1")
    assert normal == ("subscriber.clinician-inbox.results.v1",)
    assert rules.routing.targets("encounter.started", None) == ("subscriber.bed-board.encounters.v1",)
    assert rules.routing.targets("claim.submitted", {"envelope": {"data_classification": "phi"}}) == ()


def test_a_rule_with_conditions_needs_the_record() -> None:
    rules = RoutingRules((RoutingRule(name="a", event_type="result.*", to=["x"]),
                          RoutingRule(name="b", event_type="order.*", where={"payload.status": "active"}, to=["y"])))
    assert not rules.needs_record("result.finalized")
    assert rules.needs_record("order.placed")
    assert rules.targets("order.placed", None) == ()  # a condition cannot hold without the record
    assert rules.targets("order.placed", {"payload": {"status": "active"}}) == ("y",)


def test_each_topic_once_in_rule_order() -> None:
    rules = RoutingRules((RoutingRule(name="a", to=["x", "y"]), RoutingRule(name="b", to=["y", "z"])))
    assert rules.targets("anything.at-all", None) == ("x", "y", "z")


def test_where_lists_mean_any_of() -> None:
    rule = RoutingRule(name="a", where={"envelope.source.system": ["LAB1", "LAB2"]}, to=["x"])
    assert rule.matches({"envelope": {"source": {"system": "LAB2"}}})
    assert not rule.matches({"envelope": {"source": {"system": "LAB3"}}})


def test_field_values_fan_out_over_lists() -> None:
    record = {"payload": {"observations": [{"critical": False}, {"critical": True}, {}]}}
    assert field_values(record, "payload.observations[*].critical") == [False, True]
    assert field_values(record, "payload.missing.deeper") == []
    assert field_values(record, "payload.observations.critical") == []  # a list needs [*]


@pytest.mark.parametrize(("rule", "message"), [
    ({"name": "a", "to": ["normalized.result.v1"]}, "governed"),
    ({"name": "a", "to": ["deadletter.routing"]}, "governed"),
    ({"name": "a", "to": ["bad topic!"]}, "valid topic name"),
    ({"name": "a", "to": []}, "to"),
    ({"name": "a", "where": {"payload..x": 1}, "to": ["x"]}, "field path"),
    ({"name": "a", "to": ["x"], "surprise": 1}, "surprise"),
])
def test_bad_rules_are_refused(tmp_path: Path, rule: dict[str, Any], message: str) -> None:
    import yaml

    path = tmp_path / "routing.yaml"
    path.write_text(yaml.safe_dump({"rules": [rule]}))
    with pytest.raises(ConfigFileError, match=message):
        load_routing_rules(path)


def test_rule_names_are_unique(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text("rules:\n  - {name: a, to: [x]}\n  - {name: a, to: [y]}\n")
    with pytest.raises(ConfigFileError, match="unique"):
        load_routing_rules(path)
