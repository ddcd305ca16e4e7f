"""Sharing a port among processes (SO_REUSEPORT), on real sockets."""

from __future__ import annotations

import socket

import pytest
import trio

from protocol.listeners import open_shared_listeners, reserve


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=2)


async def test_a_reserved_port_takes_no_connection_until_a_listener_joins() -> None:
    held = reserve("127.0.0.1", 0)
    try:
        port = held[0].getsockname()[1]
        assert port != 0
        with pytest.raises(ConnectionRefusedError):
            connect(port)
        first = await open_shared_listeners("127.0.0.1", port)
        second = await open_shared_listeners("127.0.0.1", port)
        accepted = {0: 0, 1: 0}

        async def accept(i: int, listener: trio.SocketListener) -> None:
            while True:
                stream = await listener.accept()
                accepted[i] += 1
                await stream.aclose()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(accept, 0, first[0])
            nursery.start_soon(accept, 1, second[0])
            clients = [await trio.to_thread.run_sync(connect, port) for _ in range(40)]
            with trio.fail_after(5):
                while sum(accepted.values()) < 40:
                    await trio.sleep(0.01)
            assert min(accepted.values()) >= 1, accepted  # both members of the group take connections
            nursery.cancel_scope.cancel()
        for client in clients:
            client.close()
        # A plain socket cannot take the port while the group listens, nor can a second reserve.
        with socket.socket() as plain, pytest.raises(OSError):
            plain.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            plain.bind(("127.0.0.1", port))
        with pytest.raises(OSError):
            reserve("127.0.0.1", port)
        for listener in first + second:
            await listener.aclose()
        with pytest.raises(ConnectionRefusedError):
            connect(port)
    finally:
        for sock in held:
            sock.close()


def test_a_port_someone_listens_on_cannot_be_reserved() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        with pytest.raises(OSError):
            reserve("127.0.0.1", other.getsockname()[1])
