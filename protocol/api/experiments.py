"""The experiments domain's methods (see docs/API.md).

`experiments.assign` takes `user_id` or, without it, the authenticated caller's id; a
call with neither is invalid params (-32602, field `user_id`): the method is open to
anyone, and what is missing is an input the caller can give. It is answered from
memory, without an ask (see `ExperimentsDomain.assign`). A first answer is recorded
(sticky) for an authenticated caller asking for itself and for an admin; for anyone
else only under a quota per connection and per node (actors/experiments/table.py).
"""

from __future__ import annotations

from actors.errors import InvalidParams
from actors.experiments import ExperimentsDomain
from actors.experiments.model import MAX_EXPERIMENT_ID, MAX_EXPERIMENT_NAME, MAX_VARIANT_NAME, MAX_VARIANTS, MAX_WEIGHT
from protocol import errors
from protocol.calls import Call
from protocol.methods import Access, Example, checked_by_domain, method

ADMIN = "admin"
from protocol.paging import PAGE_INFO_SCHEMA, PAGING_SCHEMA

LIST_SCOPE = "experiments.list"
MAX_USER_ID = 256

_ID = {"type": "string", "minLength": 1, "maxLength": MAX_EXPERIMENT_ID}
_NAME = {"type": "string", "minLength": 1, "maxLength": MAX_VARIANT_NAME}
# Validated loosely: the model checks variants and reports every problem with its field
# (`variants[1].weight`), which a schema's first failure cannot. Published exactly: a
# list of names or a list of {name, weight}, never a mix.
_VARIANTS = checked_by_domain(
    {"title": "Variants",
     "description": "variant names (equal weights) or {name, weight} objects, not a mix; weights "
                    "are relative and normalised, not all zero; names unique",
     "oneOf": [
         {"type": "array", "minItems": 1, "maxItems": MAX_VARIANTS, "items": _NAME},
         {"type": "array", "minItems": 1, "maxItems": MAX_VARIANTS, "items": {
             "title": "WeightedVariant", "type": "object",
             "properties": {"name": _NAME, "weight": {"type": "number", "minimum": 0, "maximum": MAX_WEIGHT}},
             "required": ["name", "weight"], "additionalProperties": False}}]},
    {"type": "array", "items": {"type": ["string", "object"]}})
_EXPERIMENT = {
    "title": "Experiment",
    "type": "object",
    "properties": {
        "id": {"type": "string"}, "name": {"type": "string"},
        "variants": {"type": "array", "items": {"title": "Variant", "type": "object", "properties": {
            "name": {"type": "string"}, "weight": {"type": "number"}}, "required": ["name", "weight"]},
            "description": "weights normalised to sum 1"},
        "active": {"type": "boolean"}, "coverage": {"type": "number"}, "seed": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
    },
    "required": ["id", "name", "variants", "active", "coverage", "seed", "created_at", "updated_at"],
}
_EXAMPLE = {"id": "home-banner", "name": "Home banner",
            "variants": [{"name": "control", "weight": 0.5}, {"name": "big", "weight": 0.5}],
            "active": True, "coverage": 1.0, "seed": "home-banner",
            "created_at": "2026-12-04T16:00:00Z", "updated_at": "2026-12-04T16:00:00Z"}
_BY_ID = {"type": "object", "properties": {"id": _ID}, "required": ["id"], "additionalProperties": False}


async def create(call: Call[ExperimentsDomain]) -> dict[str, object]:
    return (await call.domain.create(call.params)).to_dict()


async def get(call: Call[ExperimentsDomain]) -> dict[str, object]:
    return (await call.domain.get(call.params["id"])).to_dict()


async def list_(call: Call[ExperimentsDomain]) -> dict[str, object]:
    listing = call.listing(LIST_SCOPE)
    found = await call.domain.list(listing.page)
    return {"items": [e.to_dict() for e in found.items], "page_info": listing.info(found)}


async def update(call: Call[ExperimentsDomain]) -> dict[str, object]:
    changes: dict[str, object] = {k: call.params[k] for k in ("active", "coverage", "variants") if k in call.params}
    if not changes:
        raise InvalidParams("params", "give at least one of active, coverage, variants")
    return (await call.domain.update(call.params["id"], changes)).to_dict()


async def stats(call: Call[ExperimentsDomain]) -> dict[str, object]:
    return await call.domain.stats(call.params["id"])


async def assign(call: Call[ExperimentsDomain]) -> dict[str, object]:
    experiment_id = call.params["experiment_id"]
    user_id = call.params.get("user_id")
    principal = call.caller.principal
    if user_id is None:
        if principal is None:
            raise InvalidParams("user_id", "is required when the connection is not authenticated")
        user_id = principal.sub
    # Vouched for: a user asking for itself, an admin. Anyone else's first answers are
    # recorded under the quota of their connection and of the node.
    vouched = principal is not None and (user_id == principal.sub or ADMIN in principal.roles)
    answer = await call.domain.assign(experiment_id, user_id, None if vouched else call.caller)
    return {"experiment_id": experiment_id, "user_id": user_id,
            "variant": answer.variant, "in_experiment": answer.in_experiment}


METHODS = [
    method("experiments.create", create, access=Access.ADMIN, summary="Create an A/B experiment",
           params={"type": "object", "properties": {
               "id": {**_ID, "description": "letters, digits and _ . : -; also the hash seed"},
               # Checked by the model with the id and the variants, every problem at once.
               "name": checked_by_domain({"type": "string", "minLength": 1, "maxLength": MAX_EXPERIMENT_NAME},
                                         {"type": "string"}),
               "variants": _VARIANTS,
               "active": {"type": "boolean", "default": True},
               "coverage": {"type": "number", "minimum": 0, "maximum": 1, "default": 1},
           }, "required": ["id", "name", "variants"], "additionalProperties": False},
           result=_EXPERIMENT, errors=[errors.CONFLICT, errors.TIMED_OUT],
           examples=[Example("two arms", {"id": "home-banner", "name": "Home banner", "variants": ["control", "big"]},
                             _EXAMPLE)]),
    method("experiments.get", get, access=Access.ADMIN, summary="One experiment by id",
           params=_BY_ID, result=_EXPERIMENT, errors=[errors.NOT_FOUND],
           examples=[Example("by id", {"id": "home-banner"}, _EXAMPLE)]),
    method("experiments.list", list_, access=Access.ADMIN, summary="Experiments, oldest first, paged",
           params={"type": "object", "properties": {**PAGING_SCHEMA}, "additionalProperties": False},
           result={"type": "object", "properties": {"items": {"type": "array", "items": _EXPERIMENT},
                                                     "page_info": PAGE_INFO_SCHEMA},
                   "required": ["items", "page_info"]},
           errors=[errors.TIMED_OUT],
           examples=[Example("first page", {"page": 1, "page_size": 20},
                             {"items": [_EXAMPLE], "page_info": {"page": 1, "page_size": 20, "total": 1,
                                                                 "total_pages": 1, "has_next_page": False}})]),
    method("experiments.update", update, access=Access.ADMIN,
           summary="Change active, coverage or weights (variant names stay); users "
                   "already assigned keep their variant",
           params={"type": "object", "properties": {
               "id": _ID,
               "active": {"type": "boolean"},
               "coverage": {"type": "number", "minimum": 0, "maximum": 1},
               "variants": _VARIANTS,
           }, "required": ["id"], "additionalProperties": False},
           result=_EXPERIMENT, errors=[errors.NOT_FOUND, errors.TIMED_OUT],
           examples=[Example("new weights", {"id": "home-banner", "variants": [
               {"name": "control", "weight": 3}, {"name": "big", "weight": 1}]},
               {**_EXAMPLE, "variants": [{"name": "control", "weight": 0.75}, {"name": "big", "weight": 0.25}],
                "updated_at": "2026-12-04T16:05:00Z"})]),
    method("experiments.stats", stats, access=Access.ADMIN,
           summary="Exposures per variant and the sample ratio mismatch test (p < 0.001)",
           params=_BY_ID,
           result={"type": "object", "properties": {
               "experiment_id": {"type": "string"},
               "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
               "total": {"type": "integer"},
               "weights": {"type": "object", "additionalProperties": {"type": "number"}},
               "expected": {"type": "object", "additionalProperties": {"type": "number"}},
               "chi_square": {"type": ["number", "null"]},
               "srm_p_value": {"type": "number"}, "srm_detected": {"type": "boolean"},
               "srm_threshold": {"type": "number"}},
               "required": ["counts", "total", "srm_p_value", "srm_detected"]},
           errors=[errors.NOT_FOUND, errors.TIMED_OUT],
           examples=[Example("balanced", {"id": "home-banner"},
                             {"experiment_id": "home-banner", "counts": {"control": 503, "big": 497}, "total": 1000,
                              "weights": {"control": 0.5, "big": 0.5}, "expected": {"control": 500.0, "big": 500.0},
                              "chi_square": 0.036, "srm_p_value": 0.849, "srm_detected": False,
                              "srm_threshold": 0.001})]),
    # Inline (run in the connection's reader, no task per call): the answer comes from
    # memory with no await. The one exception is the first call, on this node, for a user
    # in a bucket that a weight or coverage change moved; it reads the user's recorded
    # variant (one indexed row), bounded by the lookup timeout, and holds up only the
    # later requests of that one connection meanwhile.
    method("experiments.assign", assign, inline=True, summary="The caller's (or user_id's) variant",
           params={"type": "object", "properties": {
               "experiment_id": _ID,
               "user_id": {"type": "string", "minLength": 1, "maxLength": MAX_USER_ID,
                           "description": "defaults to the authenticated caller"},
           }, "required": ["experiment_id"], "additionalProperties": False},
           result={"title": "Assignment", "type": "object", "properties": {
               "experiment_id": {"type": "string"}, "user_id": {"type": "string"},
               "variant": {"type": "string"}, "in_experiment": {"type": "boolean"}},
               "required": ["experiment_id", "user_id", "variant", "in_experiment"]},
           errors=[errors.NOT_FOUND],
           examples=[Example("a user", {"experiment_id": "home-banner", "user_id": "u_5f2d8c41"},
                             {"experiment_id": "home-banner", "user_id": "u_5f2d8c41", "variant": "big",
                              "in_experiment": True})]),
]
