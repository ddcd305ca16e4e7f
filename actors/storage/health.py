"""Reachability of the database, as seen by the calls made through a storage."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("actors.storage")


class Health:
    """False from a call that found the database unreachable until the next call
    that reached it. Each change is logged once, not each failed call."""

    def __init__(self, what: str) -> None:
        self._what = what
        self.healthy = True
        self.outages = 0
        self._down_since = 0.0

    def up(self) -> None:
        if not self.healthy:
            self.healthy = True
            log.info(
                "%s reachable again after %.1fs", self._what, time.monotonic() - self._down_since
            )

    def down(self, reason: object) -> None:
        if self.healthy:
            self.healthy = False
            self.outages += 1
            self._down_since = time.monotonic()
            log.warning(
                "%s unreachable (%s): requests that need it fail until it is back",
                self._what,
                reason,
            )
