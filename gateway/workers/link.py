"""What passes between the main process of `serve --workers N` and a worker.

The main process starts a worker with pipes for its standard input and output (its
standard error is the main process's: one log). On standard input the worker reads its
brief, one JSON line (which worker it is, the private socket its admin pages go to,
the whole configuration with the port already chosen and the JWT secret, so nothing
secret is on a command line); after that the pipe stays open and says nothing until
the main process is gone, when it ends: the worker then shuts down as if told to
(SIGTERM), so no worker outlives its supervisor. On standard output the worker
reports, one JSON line per event (`{"event": "ready", "ws_port": P}`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import attrs
import orjson
import trio

from gateway.config import Config

__all__ = ["Brief", "WorkerLink", "READY"]

log = logging.getLogger("gateway.workers")

READY = "ready"


@attrs.frozen
class Brief:
    index: int
    admin_socket: str
    config: Config

    def encode(self) -> bytes:
        fields = attrs.asdict(self.config)
        fields["data_dir"] = str(self.config.data_dir)
        return orjson.dumps({"index": self.index, "admin_socket": self.admin_socket, "config": fields}) + b"\n"

    @classmethod
    def decode(cls, line: bytes) -> "Brief":
        doc = orjson.loads(line)
        fields = dict(doc["config"])
        fields["data_dir"] = Path(fields["data_dir"])
        return cls(int(doc["index"]), str(doc["admin_socket"]), Config(**fields))


class WorkerLink:
    """A worker's end: `ready()` reports, `watch_main()` notices the main process going."""

    def __init__(self, brief: Brief, status: BinaryIO, main_fd: int) -> None:
        self.brief = brief
        self._status = status
        self._main_fd = main_fd

    @property
    def index(self) -> int:
        return self.brief.index

    def ready(self, ws_port: int) -> None:
        self._send({"event": READY, "ws_port": ws_port, "pid": os.getpid()})

    def _send(self, event: dict[str, object]) -> None:
        try:
            self._status.write(orjson.dumps(event) + b"\n")
            self._status.flush()
        except (BrokenPipeError, ValueError):
            pass  # the main process is gone: watch_main says so

    async def watch_main(self, on_gone: Callable[[], None]) -> None:
        """Call `on_gone` once the main process's end of standard input has closed."""
        while True:
            await trio.lowlevel.wait_readable(self._main_fd)
            try:
                if not os.read(self._main_fd, 4096):
                    break
            except BlockingIOError:
                continue
            except OSError:
                break
        log.warning("the main process is gone; shutting down", extra={"event": "worker.orphaned"})
        on_gone()
