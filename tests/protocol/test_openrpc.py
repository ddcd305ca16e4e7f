"""The OpenRPC document: valid against the official meta-schema, and complete.

openrpc_meta_schema.json is `openrpcDocument` of the npm package @open-rpc/meta-schema
1.14.9 and json_schema_tools_meta_schema.json the schema.json of
@json-schema-tools/meta-schema 1.8.0 (which the first refers to for every schema in the
document), both Apache-2.0, vendored as JSON. When a test here fails for a method you added,
its message says what to add to the method's `method(...)` declaration.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from gateway.reference import reference_document
from protocol import api, errors, openrpc
from protocol.methods import Access, method, validation_schema

HERE = Path(__file__).parent
META_SCHEMA = json.loads((HERE / "openrpc_meta_schema.json").read_text())
JSON_SCHEMA_META = json.loads((HERE / "json_schema_tools_meta_schema.json").read_text())
REGISTRY: Registry = Registry().with_resources(
    (uri, Resource.from_contents(JSON_SCHEMA_META, default_specification=DRAFT7))
    for uri in ("https://meta.json-schema.tools", "https://meta.json-schema.tools/"))


def meta_validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(META_SCHEMA, registry=REGISTRY)
DOC = reference_document()
DECLARED = {d.name: d for d in api.declarations()}


def with_components(schema: Any) -> dict[str, Any]:
    """`schema` made resolvable on its own: its `$ref`s point into the document."""
    return {**(schema if isinstance(schema, dict) else {}), "components": DOC["components"]}


def test_the_document_validates_against_the_official_meta_schema() -> None:
    meta_validator().validate(DOC)


def test_the_meta_schema_check_can_fail() -> None:
    broken = {**DOC, "methods": [{**DOC["methods"][0], "params": "none"}]}
    with pytest.raises(jsonschema.ValidationError):
        meta_validator().validate(broken)
    bad_schema = {**DOC, "components": {**DOC["components"], "schemas": {"X": {"type": 7}}}}
    with pytest.raises(jsonschema.ValidationError):
        meta_validator().validate(bad_schema)


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_every_method_is_complete(name: str) -> None:
    declared = DECLARED[name]
    where = f"{name}: in its method(...) declaration (protocol/api)"
    assert declared.summary, f"{where}, give summary=..."
    assert declared.examples, f"{where}, give examples=[Example(name, params, result)]"
    result = declared.result
    assert result.get("type") == "object", f"{where}, give result= an object schema"
    assert result.get("required"), f"{where}, list the result's required fields (result={{..., 'required': [...]}})"
    assert set(result["required"]) <= set(result.get("properties", {})), f"{where}: a required field is not a property"
    params_check = fastjsonschema.compile(validation_schema(declared.params))
    result_check = jsonschema.Draft7Validator(with_components(openrpc.resolve(result, DOC)))
    for ex in declared.examples:
        params_check(copy.deepcopy(ex.params))  # it fills in defaults in place
        jsonschema.Draft7Validator(declared.params).validate(ex.params)  # the published form too
        problems = [e.message for e in result_check.iter_errors(ex.result)]
        assert not problems, f"{where}: example {ex.name!r} does not match the result schema: {problems}"


def test_every_method_lists_its_errors() -> None:
    codes = {name: e["code"] for name, e in DOC["components"]["errors"].items()}
    for m in DOC["methods"]:
        listed = {codes[e["$ref"].rsplit("/", 1)[1]] for e in m["errors"]}
        assert {errors.OVERLOADED, errors.SHUTTING_DOWN, errors.INTERNAL_ERROR} <= listed, m["name"]
        if m["x-access"] != "anyone":
            assert {errors.AUTH_REQUIRED, errors.TOKEN_REVOKED} <= listed, m["name"]
        if m["x-access"] == "admin":
            assert errors.PERMISSION_DENIED in listed, m["name"]
        if m["params"]:
            assert errors.INVALID_PARAMS in listed, m["name"]
        assert set(DECLARED[m["name"]].errors) <= listed, m["name"]


def test_every_named_schema_has_its_title_and_every_result_is_named() -> None:
    for name, schema in DOC["components"]["schemas"].items():
        assert schema.get("title") == name
    for m in DOC["methods"]:
        assert m["result"]["schema"].keys() == {"$ref"}, m["name"]
    assert "x-validate-as" not in json.dumps(DOC)


def test_servers_and_notifications() -> None:
    assert DOC["servers"][0]["url"] == "ws://{host}:{port}/v1"
    notes = {n["name"]: n for n in DOC["x-notifications"]}
    assert {"system.shutdown", "auth.revoked"} <= notes.keys()
    assert {p["name"] for p in notes["auth.revoked"]["params"]} == {"family_id", "reason"}


def test_variants_admit_names_or_weighted_objects_but_not_a_mix() -> None:
    create = next(m for m in DOC["methods"] if m["name"] == "experiments.create")
    schema = with_components(next(p for p in create["params"] if p["name"] == "variants")["schema"])
    check = jsonschema.Draft7Validator(schema)
    assert check.is_valid(["a", "b"])
    assert check.is_valid([{"name": "a", "weight": 1}, {"name": "b", "weight": 3}])
    assert not check.is_valid(["a", {"name": "b", "weight": 1}])
    assert not check.is_valid([{"name": "a", "weight": 1}, "b"])
    assert not check.is_valid([])


def test_two_different_schemas_with_one_title_are_refused() -> None:
    async def handler(call: Any) -> None:
        return None

    one = method("a.one", handler, result={"title": "Same", "type": "object", "properties": {"x": {"type": "integer"}}})
    two = method("a.two", handler, result={"title": "Same", "type": "object", "properties": {"y": {"type": "integer"}}})
    with pytest.raises(ValueError, match="Same"):
        openrpc.document([one, two], title="t", version="1")


def test_results_without_a_title_are_named_after_the_method() -> None:
    async def handler(call: Any) -> None:
        return None

    doc = openrpc.document([method("search.corrections.add", handler, access=Access.ADMIN,
                                   result={"type": "object"})], title="t", version="1")
    assert doc["methods"][0]["result"]["schema"] == {"$ref": "#/components/schemas/SearchCorrectionsAddResult"}
