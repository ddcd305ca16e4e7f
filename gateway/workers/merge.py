"""One Prometheus exposition out of several processes' own: every sample gains a label
naming its process (`worker="1"`), families of the same name are written once.

What the main process of `serve --workers N` answers on `/metrics`: its own registry
and each worker's, scraped from the worker's private socket at the same moment."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["merge", "parse"]


def parse(text: str) -> list[Metric]:
    """The families of a text exposition; ValueError when it is not one."""
    try:
        return list(text_string_to_metric_families(text))
    except (ValueError, IndexError, KeyError) as exc:  # the parser's errors are not all ValueErrors
        raise ValueError(f"not a Prometheus exposition: {exc}") from exc


class _Families:
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self._families


def merge(sources: Mapping[str, list[Metric]], label: str = "worker") -> bytes:
    """`sources` by the value of `label` each gets, in the order given (a sample that
    has the label already keeps its own value). A family's help
    and type come from the first source that has it; a later family of the same name
    and another type is left out (it cannot be written under one TYPE line)."""
    merged: dict[str, Metric] = {}
    for value, families in sources.items():
        for family in families:
            into = merged.get(family.name)
            if into is None:
                into = merged[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
            elif into.type != family.type:
                continue
            into.samples.extend(s._replace(labels={label: value, **s.labels})
                                for s in family.samples)
    return generate_latest(_Families(merged.values()))  # duck-typed: anything with collect()
