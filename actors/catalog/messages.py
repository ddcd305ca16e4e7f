"""Messages of the catalog actor (registered as "catalog") and what it tells others."""

from __future__ import annotations

import attrs

from actors.catalog.model import ContentItem
from actors.paging import Page

CATALOG_CHANNEL = "catalog.changed"
"""KV pub/sub channel: JSON list of changed content ids, published after every upsert."""


@attrs.frozen
class Upsert:
    items: tuple[ContentItem, ...]


@attrs.frozen
class GetContent:
    """One item read from storage (`NotFound` if absent). Readers ask the search index
    first: see `CatalogDomain.item`."""

    id: str


@attrs.frozen
class ListContent:
    """Answer: a `Slice` of `ContentItem`."""

    page: Page
    sort: str = "popularity"


@attrs.frozen
class ListEpisodes:
    """Answer: a `Slice` of the series' episodes in (season, episode, id) order;
    NotFound for an unknown id, InvalidParams (series_id) for an item that is no series."""

    series_id: str
    page: Page
