"""Ask timeouts without a cancel scope per ask.

Entering and leaving a `trio.CancelScope` costs more than the rest of an ask
(bench/runtime_ask.py). Instead, each parked asker is put on a FIFO per timeout
value (deadlines in a FIFO of one timeout value are non-decreasing) and one system
task per trio run wakes at the earliest deadline and fails the expired asks with
`AskTimeout`. Answered asks are dropped from the front of their FIFO lazily.
Programs use a handful of timeout values; past `_MAX_FIFOS` distinct ones (computed
timeouts, say) asks go to a heap instead, so the watcher's work stays bounded.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from typing import TYPE_CHECKING

import outcome
import trio

from ._errors import AskTimeout

if TYPE_CHECKING:
    from ._actor import _Call

_Entry = tuple[float, "_Call", str]
_HeapEntry = tuple[float, int, "_Call", str, float]

_MAX_FIFOS = 16


class _AskTimer:
    def __init__(self) -> None:
        self.fifos: dict[float, deque[_Entry]] = {}
        self.heap: list[_HeapEntry] = []
        self.seq = itertools.count()
        self.next_wake = math.inf
        self.sleep_scope: trio.CancelScope | None = None
        trio.lowlevel.spawn_system_task(self._watch, name="runtime.ask_timer")

    def add(self, call: _Call, timeout: float, actor: str) -> None:
        deadline = trio.current_time() + timeout
        fifo = self.fifos.get(timeout)
        if fifo is not None:
            # Lazy pruning keeps the FIFO short while asks are answered in time.
            while fifo and (fifo[0][1].result is not None or fifo[0][1].abandoned):
                fifo.popleft()
            fifo.append((deadline, call, actor))
        elif len(self.fifos) < _MAX_FIFOS:
            self.fifos[timeout] = deque([(deadline, call, actor)])
        else:
            heap = self.heap
            while heap and (heap[0][2].result is not None or heap[0][2].abandoned):
                heapq.heappop(heap)
            heapq.heappush(heap, (deadline, next(self.seq), call, actor, timeout))
        if deadline < self.next_wake:
            self.next_wake = deadline
            if self.sleep_scope is not None:
                self.sleep_scope.deadline = deadline

    async def _watch(self) -> None:
        while True:
            now = trio.current_time()
            next_wake = math.inf
            for timeout, fifo in list(self.fifos.items()):
                while fifo:
                    deadline, call, actor = fifo[0]
                    if call.result is not None or call.abandoned:
                        fifo.popleft()
                    elif deadline <= now:
                        fifo.popleft()
                        call.abandoned = True
                        call.settle(outcome.Error(AskTimeout(actor, timeout)))
                    else:
                        next_wake = min(next_wake, deadline)
                        break
                if not fifo:
                    del self.fifos[timeout]
            heap = self.heap
            while heap:
                deadline, _, call, actor, timeout = heap[0]
                if call.result is not None or call.abandoned:
                    heapq.heappop(heap)
                elif deadline <= now:
                    heapq.heappop(heap)
                    call.abandoned = True
                    call.settle(outcome.Error(AskTimeout(actor, timeout)))
                else:
                    next_wake = min(next_wake, deadline)
                    break
            self.next_wake = next_wake
            with trio.CancelScope(deadline=next_wake) as self.sleep_scope:
                await trio.sleep_forever()
            self.sleep_scope = None


_timer: trio.lowlevel.RunVar[_AskTimer] = trio.lowlevel.RunVar("runtime.ask_timer")


def ask_timer() -> _AskTimer:
    try:
        return _timer.get()
    except LookupError:
        timer = _AskTimer()
        _timer.set(timer)
        return timer
