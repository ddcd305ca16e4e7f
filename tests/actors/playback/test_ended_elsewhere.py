"""A session another node ended: refused here once told (the Redis notice), or once the
actor checks storage (after notices may have been lost). Both dialects."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from actors.errors import NotFound
from actors.playback.actor import PlaybackActor
from actors.playback.intake import PositionIntake
from actors.playback.messages import Adopt, EndedElsewhere, GetResume, Start, Stop
from actors.playback.model import PlaybackSettings
from actors.storage import Storage
from runtime import ChildSpec, Supervisor

HOUR = 3_600_000


@pytest.fixture
async def actor(nursery: trio.Nursery, storage: Storage) -> AsyncIterator[tuple[PositionIntake, object]]:
    intake = PositionIntake()
    supervisor = Supervisor("test", [ChildSpec("playback", lambda: PlaybackActor(storage, intake,
                                                                                 PlaybackSettings()))])
    await nursery.start(supervisor.run)
    yield intake, supervisor.ref("playback")
    await supervisor.stop()


async def end_in_storage(storage: Storage, session_id: str) -> None:
    await storage.execute("UPDATE playback_sessions SET ended_at = 1 WHERE id = $1", session_id)


async def test_a_notice_ends_a_held_session(actor: tuple, storage: Storage) -> None:
    intake, ref = actor
    started = await ref.ask(Start("u1", "film", HOUR))
    sid = started.session_id
    intake.offer(intake.sessions[sid], 600_000)
    await end_in_storage(storage, sid)  # what the other node's stop wrote
    intake.end_elsewhere((sid,))
    await ref.tell(EndedElsewhere((sid,)))
    assert intake.lookup(sid, "u1") is None
    for msg in (Adopt(sid, "u1"), Stop("u1", sid, 900_000)):
        with pytest.raises(NotFound):
            await ref.ask(msg)
    assert (await ref.ask(GetResume("u1", "film", HOUR))).position_ms != 900_000


async def test_without_a_notice_the_check_against_storage_ends_it(actor: tuple, storage: Storage) -> None:
    intake, ref = actor
    kept = (await ref.ask(Start("u1", "film", HOUR))).session_id
    gone = (await ref.ask(Start("u1", "other", HOUR))).session_id
    await end_in_storage(storage, gone)
    await ref.tell(EndedElsewhere(()))  # notices may have been lost: check
    with trio.fail_after(10):
        while gone in intake.sessions:
            await trio.sleep(0.01)
    with pytest.raises(NotFound):
        await ref.ask(Stop("u1", gone))
    assert kept in intake.sessions
    assert (await ref.ask(Stop("u1", kept, 600_000))).position_ms == 600_000
