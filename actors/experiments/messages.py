"""Messages of the experiments actor (registered as "experiments")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from actors.experiments.model import Experiment
from actors.paging import Page

__all__ = [
    "CHANNEL",
    "CreateExperiment",
    "Flush",
    "GetExperiment",
    "GetStats",
    "ListExperiments",
    "Reload",
    "ReloadAll",
    "UpdateExperiment",
]

CHANNEL = "experiments.changed"
"""KV pub/sub channel: `{"node", "id", "revision"}` JSON after every create or update;
other nodes reload that experiment from storage."""


@attrs.frozen
class CreateExperiment:
    """Answer: the `Experiment`. -32005 (`Conflict`) if the id exists."""

    experiment: Experiment


@attrs.frozen
class UpdateExperiment:
    """`changes`: `experiments.update` params `{active?, coverage?, variants?}`, validated
    by the actor against the stored definition. Answer: the new `Experiment`."""

    id: str
    changes: Mapping[str, Any]


@attrs.frozen
class GetExperiment:
    id: str


@attrs.frozen
class ListExperiments:
    """Answer: a `Slice` of `Experiment`, oldest first."""

    page: Page


@attrs.frozen
class GetStats:
    """Answer: the `experiments.stats` result dict."""

    id: str


@attrs.frozen
class Flush:
    """Write the buffered assignments and exposures now; answers once they are stored."""


@attrs.frozen
class Reload:
    """Re-read one experiment from storage (it changed on another node)."""

    id: str


@attrs.frozen
class ReloadAll:
    """Re-read every experiment (after missed notices)."""
