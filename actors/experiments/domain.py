"""The experiments domain's entry: `start(env)` gives the experiments actor's child spec
and the facade handlers call.

`assign` is the one way to assign a user, for the method handler, the benches and the
tests alike: the `AssignmentTable`, kept beside the actor as a `Shared`, answers from
memory without an ask; only a user in a bucket that a weight or coverage change moved,
with nothing cached, costs one read of their recorded variant (bounded by
`lookup_timeout`). Definitions change through the actor, which stores them first.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import attrs
import trio

from actors.env import DomainEnv
from actors.errors import NotFound, TimedOut, storage_errors
from actors.experiments import store
from actors.experiments.actor import ExperimentsActor
from actors.experiments.messages import (
    CreateExperiment,
    Flush,
    GetExperiment,
    GetStats,
    ListExperiments,
    UpdateExperiment,
)
from actors.experiments.model import Experiment, create_experiment
from actors.quota import Quota, QuotaLimits
from actors.experiments.table import RECORD_LIMITS, Assignment, AssignmentTable, LookupNeeded
from actors.paging import Page, Slice
from actors.storage import Storage
from runtime import Shared

NAME = "experiments"


@attrs.frozen
class ExperimentsSettings:
    """Timeouts (seconds) and the write-behind interval; the defaults are the documented ones."""

    lookup_timeout: float = 1.0  # reading one user's recorded variant
    admin_timeout: float = 30.0  # create, update (which first writes this node's buffers), stats
    flush_interval: float = 1.0
    resync_interval: float = 30.0
    records: QuotaLimits = RECORD_LIMITS  # first answers recorded for callers not vouched for (table.py)


class ExperimentsDomain:
    """What the node's other parts call on experiments. `children`: its actor; `table`:
    the assignment table it fills and drains, which answers `assign`."""

    def __init__(self, env: DomainEnv, settings: ExperimentsSettings, table: AssignmentTable | None = None) -> None:
        self.settings = settings
        self._storage: Storage = env.storage
        self.table = Shared(NAME, table if table is not None else AssignmentTable(quota=Quota(settings.records)))
        self.children = [self.table.child(
            lambda table: ExperimentsActor(env.storage, env.kv, env.node_id, table,
                                           flush_interval=settings.flush_interval,
                                           resync_interval=settings.resync_interval),
            shutdown_timeout=10.0)]

    async def assign(self, experiment_id: str, user_id: str, owner: object = None) -> Assignment:
        """The user's variant, counted as an exposure when inside the experiment.
        `NotFound` for an unknown experiment; `TimedOut` if a needed read of the
        user's recorded variant takes longer than `lookup_timeout`. `owner`: for a
        caller the gateway cannot vouch for (anonymous, or naming another user), the
        connection whose first answers are recorded only under the quota (table.py);
        None records every first answer."""
        try:
            answer = self.table.state.assign(experiment_id, user_id, owner)
        except NotFound:
            # Perhaps created on another node a moment ago, its notice still on the way:
            # the actor looks in storage (one id at a time) and installs it, or raises
            # NotFound again.
            await self.get(experiment_id)
            answer = self.table.state.assign(experiment_id, user_id, owner)
        if isinstance(answer, LookupNeeded):
            return await self._look_up(answer, owner)
        return answer

    async def _look_up(self, needed: LookupNeeded, owner: object) -> Assignment:
        experiment_id, user_id = needed.experiment_id, needed.user_id
        with trio.move_on_after(self.settings.lookup_timeout):
            with storage_errors():
                recorded = await store.recorded_variant(self._storage, experiment_id, user_id)
            return self.table.state.resolve(experiment_id, user_id, recorded, owner)
        raise TimedOut("Timed out reading the recorded assignment")

    async def create(self, params: Mapping[str, object]) -> Experiment:
        """A new experiment from `experiments.create` params (validated here, every
        problem with its field); `Conflict` if the id exists."""
        experiment = create_experiment(params, int(time.time() * 1000) / 1000)
        created: Experiment = await self.table.ref.ask(CreateExperiment(experiment),
                                                       timeout=self.settings.admin_timeout)
        return created

    async def get(self, experiment_id: str) -> Experiment:
        found: Experiment = await self.table.ref.ask(GetExperiment(experiment_id))
        return found

    async def list(self, page: Page) -> Slice[Experiment]:
        """Every experiment, oldest first, one page."""
        found: Slice[Experiment] = await self.table.ref.ask(ListExperiments(page))
        return found

    async def update(self, experiment_id: str, changes: Mapping[str, object]) -> Experiment:
        """Apply `{active?, coverage?, variants?}`; users already assigned keep their variant."""
        # An update first writes this node's buffered assignments: allow for a backlog.
        updated: Experiment = await self.table.ref.ask(UpdateExperiment(experiment_id, changes),
                                                       timeout=self.settings.admin_timeout)
        return updated

    async def stats(self, experiment_id: str) -> dict[str, object]:
        """Exposures per variant and the sample ratio mismatch test (`experiments.stats`)."""
        stats: dict[str, object] = await self.table.ref.ask(GetStats(experiment_id), timeout=self.settings.admin_timeout)
        return stats

    async def flush(self) -> None:
        """Write the buffered first assignments and exposure counts now."""
        await self.table.ref.ask(Flush(), timeout=self.settings.admin_timeout)


def start(env: DomainEnv, settings: ExperimentsSettings = ExperimentsSettings(), *,
          table: AssignmentTable | None = None) -> ExperimentsDomain:
    """The experiments domain of this node: its child spec (nothing runs until a
    supervisor starts it) and its facade. `table` for tests that size its bounds."""
    return ExperimentsDomain(env, settings, table)
