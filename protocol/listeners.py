"""TCP sockets several processes share one port with (Linux `SO_REUSEPORT`).

Every listening socket bound to a port with `SO_REUSEPORT` (by the same user) joins
one group, and the kernel spreads new connections over the group's sockets by a hash
of the connection's addresses. A socket that is bound but not listening is no member:
it takes no connections, it only holds the port. So the main process of
`serve --workers N` binds first (`reserve`: a port 0 becomes a real one, and the port
stays held while workers restart) and each worker listens on its own socket
(`open_shared_listeners`); a worker that exits takes its socket out of the group, and
new connections go to the others (those still queued on its socket are reset).

A socket without `SO_REUSEPORT` cannot join such a group, and a group cannot form on
a port someone holds without it; `reserve` also refuses a port that another process
shares this way (a second gateway on the same port would otherwise split the traffic
with the first), by binding a plain socket first.
"""

from __future__ import annotations

import socket

import trio

__all__ = ["open_shared_listeners", "reserve"]

BACKLOG = 0xFFFF  # as trio: the kernel caps it at net.core.somaxconn


def _addresses(host: str, port: int) -> list[tuple[int, tuple]]:  # type: ignore[type-arg]
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    return [(family, address) for family, _, _, _, address in infos]


def _socket(family: int, *, reuse_port: bool) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    except BaseException:
        sock.close()
        raise
    return sock


def reserve(host: str, port: int) -> list[socket.socket]:
    """Bound, not listening, `SO_REUSEPORT` sockets holding `port` (0: a free one, the
    same on every address of `host`); OSError when the port is taken, shared or not.
    The chosen port is `sockets[0].getsockname()[1]`."""
    held: list[socket.socket] = []
    try:
        for family, address in _addresses(host, port):
            if held:  # every address on the port the first one got
                address = (address[0], held[0].getsockname()[1], *address[2:])
            probe = _socket(family, reuse_port=False)
            with probe:
                probe.bind(address)  # EADDRINUSE if anyone listens there, a shared group included
                address = probe.getsockname()
            holder = _socket(family, reuse_port=True)
            held.append(holder)
            holder.bind(address)
    except BaseException:
        for sock in held:
            sock.close()
        raise
    return held


async def open_shared_listeners(host: str, port: int) -> list[trio.SocketListener]:
    """Listeners on `host:port` that join the port's `SO_REUSEPORT` group (`port` > 0)."""
    infos = await trio.socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    listeners: list[trio.SocketListener] = []
    try:
        for family, _, _, _, address in infos:
            sock = _socket(family, reuse_port=True)
            try:
                sock.bind(address)
                sock.listen(BACKLOG)
            except BaseException:
                sock.close()
                raise
            listeners.append(trio.SocketListener(trio.socket.from_stdlib_socket(sock)))
    except BaseException:
        for listener in listeners:
            await listener.aclose()
        raise
    return listeners
