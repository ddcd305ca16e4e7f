"""The experiments domain's methods (see CONTRACT.md).

`experiments.assign` takes `user_id` or, without it, the authenticated caller's id; a
call with neither is invalid params (-32602, field `user_id`): the method is open to
anyone, and what is missing is an input the caller can give. It is answered from
memory, without an ask (see `ExperimentsDomain.assign`).
"""

from __future__ import annotations

from actors.errors import InvalidParams
from actors.experiments import ExperimentsDomain
from actors.experiments.model import MAX_EXPERIMENT_ID
from protocol.calls import Call
from protocol.methods import Access, method
from protocol.paging import PAGING_SCHEMA

LIST_SCOPE = "experiments.list"
MAX_USER_ID = 256

_ID = {"type": "string", "minLength": 1, "maxLength": MAX_EXPERIMENT_ID}
# Loose on purpose: the model checks variants and reports every problem with its field
# (`variants[1].weight`), which a schema's first failure cannot.
_VARIANTS = {
    "type": "array",
    "description": "variant names (equal weights) or {name, weight} objects; weights "
                   "are relative and normalised",
    "items": {"type": ["string", "object"]},
}
_EXPERIMENT = {
    "type": "object",
    "properties": {
        "id": {"type": "string"}, "name": {"type": "string"},
        "variants": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "weight": {"type": "number"}}}},
        "active": {"type": "boolean"}, "coverage": {"type": "number"}, "seed": {"type": "string"},
        "created_at": {"type": "string"}, "updated_at": {"type": "string"},
    },
}
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
    changes = {k: call.params[k] for k in ("active", "coverage", "variants") if k in call.params}
    if not changes:
        raise InvalidParams("params", "give at least one of active, coverage, variants")
    return (await call.domain.update(call.params["id"], changes)).to_dict()


async def stats(call: Call[ExperimentsDomain]) -> dict[str, object]:
    return await call.domain.stats(call.params["id"])


async def assign(call: Call[ExperimentsDomain]) -> dict[str, object]:
    experiment_id = call.params["experiment_id"]
    user_id = call.params.get("user_id")
    if user_id is None:
        principal = call.caller.principal
        if principal is None:
            raise InvalidParams("user_id", "is required when the connection is not authenticated")
        user_id = principal.sub
    answer = await call.domain.assign(experiment_id, user_id)
    return {"experiment_id": experiment_id, "user_id": user_id,
            "variant": answer.variant, "in_experiment": answer.in_experiment}


METHODS = [
    method("experiments.create", create, access=Access.ADMIN, summary="Create an A/B experiment",
           params={"type": "object", "properties": {
               "id": {**_ID, "description": "letters, digits and _ . : -; also the hash seed"},
               "name": {"type": "string"},
               "variants": _VARIANTS,
               "active": {"type": "boolean", "default": True},
               "coverage": {"type": "number", "minimum": 0, "maximum": 1, "default": 1},
           }, "required": ["id", "name", "variants"], "additionalProperties": False},
           result=_EXPERIMENT),
    method("experiments.get", get, access=Access.ADMIN, summary="One experiment by id",
           params=_BY_ID, result=_EXPERIMENT),
    method("experiments.list", list_, access=Access.ADMIN, summary="Experiments, oldest first, paged",
           params={"type": "object", "properties": {**PAGING_SCHEMA}, "additionalProperties": False},
           result={"type": "object", "properties": {"items": {"type": "array", "items": _EXPERIMENT},
                                                     "page_info": {"type": "object"}}}),
    method("experiments.update", update, access=Access.ADMIN,
           summary="Change active, coverage or weights (variant names stay); users "
                   "already assigned keep their variant",
           params={"type": "object", "properties": {
               "id": _ID,
               "active": {"type": "boolean"},
               "coverage": {"type": "number", "minimum": 0, "maximum": 1},
               "variants": _VARIANTS,
           }, "required": ["id"], "additionalProperties": False},
           result=_EXPERIMENT),
    method("experiments.stats", stats, access=Access.ADMIN,
           summary="Exposures per variant and the sample ratio mismatch test (p < 0.001)",
           params=_BY_ID,
           result={"type": "object", "properties": {
               "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
               "total": {"type": "integer"},
               "weights": {"type": "object"}, "expected": {"type": "object"},
               "chi_square": {"type": ["number", "null"]},
               "srm_p_value": {"type": "number"}, "srm_detected": {"type": "boolean"}}}),
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
           result={"type": "object", "properties": {
               "experiment_id": {"type": "string"}, "user_id": {"type": "string"},
               "variant": {"type": "string"}, "in_experiment": {"type": "boolean"}}}),
]
