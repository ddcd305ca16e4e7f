"""A Python client of the media gateway (trio, on trio-websocket).

- `open_client(url, ...)`: the client an app uses: one typed async method per
  JSON-RPC method, grouped by domain (`client.search.query(query="x")`), tokens kept
  fresh, reconnection with back-off, notifications as an async iterator.
- `connect(url, token=...)`: one plain connection (calls by name, raw frames), what
  `main.py call` and the end-to-end tests use.
- Errors: `RpcError` (an error answer; a subclass per code, with `code`, `message`,
  `data`) and `TransportError` (`Unreachable`, `HandshakeRejected`, `ConnectionClosed`).

The typed methods (mgclient/methods.py) are generated from the gateway's method table
by `python main.py docs`.
"""

from mgclient.admin import http_get
from mgclient.backoff import Backoff
from mgclient.client import CLOSE_REVOKED, Client, open_client
from mgclient.connection import Connection, Notification, connect
from mgclient.errors import (AuthRequired, ClientError, Conflict, ConnectionClosed, HandshakeRejected,
                             InvalidCredentials, InvalidParams, NotFound, Overloaded, PermissionDenied,
                             RefreshReuse, RpcError, ShuttingDown, TimedOut, TokenRevoked, TransportError,
                             Unreachable)
from mgclient.methods import METHOD_NAMES, Methods

__all__ = [
    "open_client", "Client", "connect", "Connection", "Notification", "Backoff", "Methods", "METHOD_NAMES",
    "http_get", "CLOSE_REVOKED",
    "ClientError", "RpcError", "InvalidParams", "AuthRequired", "PermissionDenied", "TokenRevoked", "NotFound",
    "Conflict", "Overloaded", "TimedOut", "ShuttingDown", "RefreshReuse", "InvalidCredentials",
    "TransportError", "Unreachable", "HandshakeRejected", "ConnectionClosed",
]
