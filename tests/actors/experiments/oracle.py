"""The reference assignment, written as GrowthBook's SDKs have it: the oracle the
assignment table (which compiles the same ranges to a table per bucket) is checked
against. Not used by the gateway."""

from __future__ import annotations

from actors.experiments.hashing import hash_bucket
from actors.experiments.model import Experiment
from actors.experiments.table import Assignment


def assign(experiment: Experiment, user_id: str, sticky_variant: str | None = None) -> Assignment:
    """Assign `user_id` to a variant of `experiment`.

    Inactive experiment, empty user id or a bucket outside coverage: the first variant,
    `in_experiment` False. `sticky_variant` is the variant this user was given before
    (if the caller keeps them); while the experiment is active and still has a
    variant of that name, it is answered again, so a change of weights moves nobody.
    """
    names = experiment.variant_names
    if not experiment.active or not user_id:
        return Assignment(names[0], False)
    if sticky_variant is not None and sticky_variant in names:
        return Assignment(sticky_variant, True)
    n = hash_bucket(experiment.seed_bytes, user_id) / 10000
    for i, (start, end) in enumerate(experiment.ranges):
        if start <= n < end:
            return Assignment(names[i], True)
    return Assignment(names[0], False)
