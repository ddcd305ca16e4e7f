"""Messages of the search actor (registered as "search")."""

from __future__ import annotations

from typing import Any

import attrs

from actors.catalog.model import ContentItem
from actors.paging import Page

CORRECTIONS_CHANNEL = "search.corrections"
"""KV pub/sub channel: a learned correction was added on some node (JSON {node})."""
SYNONYMS_CHANNEL = "search.synonyms"
"""KV pub/sub channel: the synonym groups were replaced on some node (JSON {node})."""


@attrs.frozen
class Query:
    text: str
    filters: dict[str, Any] | None
    limit: int
    offset: int = 0
    after: tuple[float, str] | None = None
    include_facets: bool = False


@attrs.frozen
class GetItem:
    """The indexed copy of one content item, or None (content reads ask this before
    the catalog's storage)."""

    id: str


@attrs.frozen
class ListItems:
    """One `content.list` page from the index's copy of the catalog. Answer: a `Slice`
    of the items' JSON (`ContentItem.to_json`), in the order and with the keys of the
    catalog's `ListContent` from storage."""

    page: Page
    sort: str = "popularity"


@attrs.frozen
class LocalChange:
    """Content written on this node, told by `SearchDomain.changed`, which counted it
    in `LiveIndex.behind`; applied to the index, then counted out."""

    items: tuple[ContentItem, ...]


@attrs.frozen
class Autocomplete:
    q: str
    limit: int


@attrs.frozen
class AddCorrection:
    misspelled: str
    corrected: str


@attrs.frozen
class Synonym:
    """One synonym group: every phrase stands for every other, or with `one_way` the
    first stands for the rest."""

    phrases: tuple[str, ...]
    one_way: bool = False


@attrs.frozen
class SetSynonyms:
    """Replace every synonym group (stored first, then applied and announced)."""

    groups: tuple[Synonym, ...]


@attrs.frozen
class Reload:
    """Content changed on another node: re-read these ids from storage."""

    ids: tuple[str, ...]


@attrs.frozen
class ReloadCorrections:
    pass


@attrs.frozen
class ReloadSynonyms:
    pass


@attrs.frozen
class Rebuild:
    """Messages may have been missed (pub/sub reconnected): rebuild from storage."""
