"""The experiments domain's methods (see CONTRACT.md).

`experiments.assign` takes `user_id` or, without it, the authenticated caller's id; a
call with neither is invalid params (-32602, field `user_id`): the method is open to
anyone, and what is missing is an input the caller can give. It is answered from the
experiments actor's `AssignmentTable` without an ask (see actors/experiments/table.py).
"""

from __future__ import annotations

import time
from typing import Any

from actors.errors import InvalidParams
from actors.experiments.actor import ExperimentsActor, look_up
from actors.experiments.messages import (
    CreateExperiment,
    GetExperiment,
    GetStats,
    ListExperiments,
    UpdateExperiment,
)
from actors.experiments.model import MAX_EXPERIMENT_ID, create_experiment
from actors.experiments.table import AssignmentTable, LookupNeeded
from protocol.methods import Access, MethodTable
from protocol.paging import PAGING_SCHEMA, Listing
from runtime import ChildSpec

NAME = "experiments"
LIST_SCOPE = "experiments.list"
MAX_USER_ID = 256
ADMIN_TIMEOUT = 30.0
LOOKUP_TIMEOUT = 1.0

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


def children(services: Any) -> list[ChildSpec]:
    # The assignment table outlives actor restarts; handlers read it directly.
    assignments = services.domain_state[NAME] = AssignmentTable()
    return [ChildSpec(
        NAME,
        lambda: ExperimentsActor(services.storage, services.kv, services.node_id, assignments),
        shutdown_timeout=10.0,
    )]


def register(table: MethodTable, services: Any) -> None:
    assignments: AssignmentTable = services.domain_state[NAME]

    def ref() -> Any:
        return services.actor(NAME)

    services.metrics.add_callback_gauge(
        "mg_experiments_buffered", "First assignments and cached answers held in memory", "kind",
        lambda: [("pending", float(assignments.pending_count())), ("unwritten", float(assignments.unwritten_count())),
                 ("cached", float(assignments.cached_count()))])
    services.metrics.add_callback_gauge(
        "mg_experiments_lookups", "Assignments that needed a storage read since start", "kind",
        lambda: [("recorded_variant", float(assignments.lookups))])

    async def create(params: dict, ctx: Any) -> dict:
        experiment = create_experiment(params, int(time.time() * 1000) / 1000)
        return (await ref().ask(CreateExperiment(experiment), timeout=ADMIN_TIMEOUT)).to_dict()

    async def get(params: dict, ctx: Any) -> dict:
        return (await ref().ask(GetExperiment(params["id"]))).to_dict()

    async def list_(params: dict, ctx: Any) -> dict:
        listing = Listing(params, services.cursors, LIST_SCOPE)
        found = await ref().ask(ListExperiments(listing.page))
        return {"items": [e.to_dict() for e in found.items], "page_info": listing.info(found)}

    async def update(params: dict, ctx: Any) -> dict:
        changes = {k: params[k] for k in ("active", "coverage", "variants") if k in params}
        if not changes:
            raise InvalidParams("params", "give at least one of active, coverage, variants")
        # An update first writes this node's buffered assignments: allow for a backlog.
        return (await ref().ask(UpdateExperiment(params["id"], changes), timeout=ADMIN_TIMEOUT)).to_dict()

    async def stats(params: dict, ctx: Any) -> dict:
        return await ref().ask(GetStats(params["id"]), timeout=ADMIN_TIMEOUT)

    async def assign(params: dict, ctx: Any) -> dict:
        experiment_id = params["experiment_id"]
        user_id = params.get("user_id")
        if user_id is None:
            principal = getattr(ctx, "principal", None)
            if principal is None:
                raise InvalidParams("user_id", "is required when the connection is not authenticated")
            user_id = principal.sub
        # `assign_user` unrolled: the table answers at once for all but the users a
        # weight change moved, and a coroutine per call was ~1 us of the gateway's CPU.
        answer = assignments.assign(experiment_id, user_id)
        if type(answer) is LookupNeeded:
            answer = await look_up(assignments, services.storage, answer, lookup_timeout=LOOKUP_TIMEOUT)
        return {"experiment_id": experiment_id, "user_id": user_id,
                "variant": answer.variant, "in_experiment": answer.in_experiment}

    by_id = {"type": "object", "properties": {"id": _ID}, "required": ["id"], "additionalProperties": False}
    table.add("experiments.create", create, access=Access.ADMIN, summary="Create an A/B experiment",
              params={"type": "object", "properties": {
                  "id": {**_ID, "description": "letters, digits and _ . : -; also the hash seed"},
                  "name": {"type": "string"},
                  "variants": _VARIANTS,
                  "active": {"type": "boolean", "default": True},
                  "coverage": {"type": "number", "minimum": 0, "maximum": 1, "default": 1},
              }, "required": ["id", "name", "variants"], "additionalProperties": False},
              result=_EXPERIMENT)
    table.add("experiments.get", get, access=Access.ADMIN, summary="One experiment by id",
              params=by_id, result=_EXPERIMENT)
    table.add("experiments.list", list_, access=Access.ADMIN,
              summary="Experiments, oldest first, paged",
              params={"type": "object", "properties": {**PAGING_SCHEMA}, "additionalProperties": False},
              result={"type": "object", "properties": {"items": {"type": "array", "items": _EXPERIMENT},
                                                        "page_info": {"type": "object"}}})
    table.add("experiments.update", update, access=Access.ADMIN,
              summary="Change active, coverage or weights (variant names stay); users "
                      "already assigned keep their variant",
              params={"type": "object", "properties": {
                  "id": _ID,
                  "active": {"type": "boolean"},
                  "coverage": {"type": "number", "minimum": 0, "maximum": 1},
                  "variants": _VARIANTS,
              }, "required": ["id"], "additionalProperties": False},
              result=_EXPERIMENT)
    table.add("experiments.stats", stats, access=Access.ADMIN,
              summary="Exposures per variant and the sample ratio mismatch test (p < 0.001)",
              params=by_id,
              result={"type": "object", "properties": {
                  "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
                  "total": {"type": "integer"},
                  "weights": {"type": "object"}, "expected": {"type": "object"},
                  "chi_square": {"type": ["number", "null"]},
                  "srm_p_value": {"type": "number"}, "srm_detected": {"type": "boolean"}}})
    # Inline (run in the connection's reader, no task per call): the answer comes from
    # memory with no await. The one exception is the first call, on this node, for a user
    # in a bucket that a weight or coverage change moved; it reads the user's recorded
    # variant (one indexed row), bounded by LOOKUP_TIMEOUT, and holds up only the later
    # requests of that one connection meanwhile.
    table.add("experiments.assign", assign, inline=True, summary="The caller's (or user_id's) variant",
              params={"type": "object", "properties": {
                  "experiment_id": _ID,
                  "user_id": {"type": "string", "minLength": 1, "maxLength": MAX_USER_ID,
                              "description": "defaults to the authenticated caller"},
              }, "required": ["experiment_id"], "additionalProperties": False},
              result={"type": "object", "properties": {
                  "experiment_id": {"type": "string"}, "user_id": {"type": "string"},
                  "variant": {"type": "string"}, "in_experiment": {"type": "boolean"}}})
