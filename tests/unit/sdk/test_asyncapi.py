"""The AsyncAPI document: valid AsyncAPI 3.0 (the official JSON schema), and complete against the catalog."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema_rs
import pytest
import yaml
from typer.testing import CliRunner

from carebus.asyncapi import AVRO_SCHEMA_FORMAT, build_asyncapi
from carebus.cli.main import app
from carebus.events import event_schema
from carebus.topics import CATALOG

# @asyncapi/specs 6.11.1, schemas/3.0.0-without-$id.json: see data/NOTICE.
SPEC = json.loads((Path(__file__).parent / "data" / "asyncapi-3.0.0.schema.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator() -> jsonschema_rs.Validator:
    return jsonschema_rs.validator_for(SPEC)


def test_the_document_validates_against_the_asyncapi_3_schema(validator: jsonschema_rs.Validator) -> None:
    errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in validator.iter_errors(build_asyncapi())]
    assert errors == []


def test_the_validator_is_not_vacuous(validator: jsonschema_rs.Validator) -> None:
    document = build_asyncapi()
    del next(iter(document["operations"].values()))["action"]
    assert not validator.is_valid(document)


def test_every_catalog_topic_is_a_channel_with_its_key_roles_and_schema() -> None:
    document = build_asyncapi()
    assert set(document["channels"]) == {spec.name for spec in CATALOG}
    for spec in CATALOG:
        assert document["channels"][spec.name]["address"] == spec.name
        assert spec.key in document["channels"][spec.name]["description"]
        assert document["operations"][f"{spec.name}.send"]["x-roles"]
        assert document["operations"][f"{spec.name}.receive"]["x-roles"]
    message = document["components"]["messages"]["ResultEvent"]
    assert message["payload"] == {"schemaFormat": AVRO_SCHEMA_FORMAT, "schema": event_schema("result")}
    assert "carebus.sdk.Publisher (upstream adapters of other teams)" in \
        document["operations"]["canonical.result.v1.send"]["x-roles"]


def test_carebus_docs_asyncapi_writes_yaml_or_json(tmp_path: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(app, ["docs", "asyncapi"])
    assert printed.exit_code == 0
    assert yaml.safe_load(printed.stdout) == json.loads(json.dumps(build_asyncapi()))
    target = tmp_path / "asyncapi.json"
    written = runner.invoke(app, ["docs", "asyncapi", "--format", "json", "--output", str(target)])
    assert written.exit_code == 0
    assert json.loads(target.read_text(encoding="utf-8")) == json.loads(json.dumps(build_asyncapi()))
