"""JSON-RPC 2.0 without I/O: parse a frame, dispatch its calls, encode the answer.

`Engine.handle_frame(text, caller)` takes one WebSocket text frame (a request, a
notification or a batch) and returns the bytes to send back, or None when nothing is
owed (notifications only). Nothing here touches a socket, so the whole protocol is
tested with strings.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, NamedTuple

import orjson

from protocol import errors
from protocol.calls import Caller
from protocol.errors import RpcError
from protocol.json_numbers import loads
from protocol.methods import MethodTable

log = logging.getLogger("protocol")

MAX_BATCH = 100

_MISSING = object()


# Named tuples rather than attrs classes: one is made per frame on the hot path, and
# a tuple is built at C speed.
class Call(NamedTuple):
    """A well-formed request (`id` present) or notification (`id` absent)."""

    method: str
    params: Any
    id: Any = None
    notification: bool = False
    nul_at: str | None = None  # the first param holding U+0000, which is refused


class Invalid(NamedTuple):
    """A member that is not a valid request; answered with `error`."""

    error: RpcError
    id: Any = None


Message = Call | Invalid


def parse(data: str | bytes) -> Message | list[Message]:
    """Parse one frame into a call, an invalid member, or a (non-empty) batch list."""
    try:
        doc = loads(data)
    except orjson.JSONDecodeError:
        return Invalid(RpcError(errors.PARSE_ERROR, "Parse error"))
    if isinstance(doc, list):
        if not doc:
            return Invalid(RpcError(errors.INVALID_REQUEST, "Invalid Request"))
        if len(doc) > MAX_BATCH:
            return Invalid(
                RpcError(errors.INVALID_REQUEST, "Invalid Request", {"reason": f"batch larger than {MAX_BATCH}"})
            )
        parsed: Message | list[Message] = [_parse_one(member) for member in doc]
    else:
        parsed = _parse_one(doc)
    # A NUL can only arrive escaped. PostgreSQL text cannot hold one, and a write-behind
    # batch holding one would fail whole: such params are refused (`Call.nul_at`).
    # (bytes.find, not `in`: a third of the time on bytes.)
    if ("\\u0000" in data) if isinstance(data, str) else (data.find(b"\\u0000") >= 0):
        return [_mark_nul(m) for m in parsed] if isinstance(parsed, list) else _mark_nul(parsed)
    return parsed


def _mark_nul(msg: Message) -> Message:
    if isinstance(msg, Call) and msg.params is not None:
        return msg._replace(nul_at=nul_path(msg.params))
    return msg


def nul_path(value: Any) -> str | None:
    """The path (`items[1].title`) of the first string or key in `value` holding
    U+0000, "params" for the top level, or None. Iterative: params may nest as deep
    as the JSON parser allows, deeper than Python's recursion limit."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return path or "params"
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                inner = f"{path}.{key}" if path else str(key)
                # A NUL key is reported where it stands, before its value.
                children.append(("\x00" if "\x00" in key else child, inner))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(reversed([(child, f"{path}[{i}]") for i, child in enumerate(item)]))
    return None


def _invalid_request() -> RpcError:
    return RpcError(errors.INVALID_REQUEST, "Invalid Request")


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, (str, int, float)) and not isinstance(value, bool))


def _parse_one(doc: Any) -> Message:
    if not isinstance(doc, dict):
        return Invalid(_invalid_request())
    rid = doc.get("id", _MISSING)
    answer_id = rid if rid is not _MISSING and _valid_id(rid) else None
    if doc.get("jsonrpc") != "2.0":
        return Invalid(_invalid_request(), answer_id)
    method = doc.get("method")
    if not isinstance(method, str):
        return Invalid(_invalid_request(), answer_id)
    if rid is not _MISSING and not _valid_id(rid):
        return Invalid(_invalid_request())
    params = doc.get("params")
    if params is not None and not isinstance(params, (dict, list)):
        return Invalid(_invalid_request(), answer_id)
    if rid is _MISSING:
        return Call(method, params, None, True)
    return Call(method, params, rid)


def result_response(rid: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "result": result}


def error_response(rid: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "error": error.to_dict()}


def notification(method: str, params: Any) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "method": method, "params": params})


def encode(answer: dict[str, Any] | list[dict[str, Any]]) -> bytes:
    return orjson.dumps(answer)


CallObserver = Callable[[str, str, float], None]
"""Called after every call with (method label, outcome, seconds)."""


class Engine:
    """Dispatches parsed calls to a `MethodTable`, turning every failure into an answer."""

    def __init__(self, table: MethodTable, *, on_call: CallObserver | None = None) -> None:
        self.table = table
        self._on_call = on_call

    async def handle_frame(self, data: str | bytes, caller: Caller) -> bytes | None:
        return await self.respond(parse(data), caller)

    def runs_inline(self, parsed: Message | list[Message]) -> bool:
        """True when answering `parsed` cannot wait on anything slow: an invalid message,
        or a call of a method registered `inline` (the transport then skips a task)."""
        if isinstance(parsed, Invalid):
            return True
        if isinstance(parsed, Call):
            method = self.table.get(parsed.method)
            return method is None or method.inline
        return False

    async def respond(self, parsed: Message | list[Message], caller: Caller) -> bytes | None:
        """The encoded answer to a parsed frame, or None when nothing is owed."""
        if isinstance(parsed, list):
            answers = []
            for member in parsed:
                answer = await self.answer(member, caller)
                if answer is not None:
                    answers.append(answer)
            return encode(answers) if answers else None
        answer = await self.answer(parsed, caller)
        return None if answer is None else encode(answer)

    async def answer(self, msg: Message, caller: Caller) -> dict[str, Any] | None:
        if isinstance(msg, Invalid):
            return error_response(msg.id, msg.error)
        started = time.perf_counter()
        method = self.table.get(msg.method)
        label = msg.method if method is not None else "unknown"
        try:
            if method is None:
                raise RpcError(errors.METHOD_NOT_FOUND, "Method not found")
            if msg.nul_at is not None:
                raise errors.invalid_params(msg.nul_at, "must not contain the NUL character (U+0000)")
            result = await method.invoke(msg.params, caller)
        except Exception as exc:  # every failure becomes an answer; bugs are logged
            rpc = errors.to_rpc_error(exc)
            if rpc is None:
                log.exception("internal error in %s", msg.method, extra={"event": "rpc.internal_error", "method": msg.method})
                rpc = RpcError(errors.INTERNAL_ERROR, "Internal error")
            self._observe(label, _outcome(rpc.code), started)
            return None if msg.notification else error_response(msg.id, rpc)
        self._observe(label, "ok", started)
        return None if msg.notification else result_response(msg.id, result)

    def _observe(self, label: str, outcome: str, started: float) -> None:
        if self._on_call is not None:
            self._on_call(label, outcome, time.perf_counter() - started)


def reject_frame(data: str | bytes, error: RpcError) -> bytes | None:
    """Answer every call in a frame with `error` (used once shutdown has begun)."""
    return reject(parse(data), error)


def reject(parsed: Message | list[Message], error: RpcError) -> bytes | None:
    """Answer every request of a parsed frame with `error` (notifications get nothing,
    invalid members their own error): shutting down, over the rate limit."""
    members = parsed if isinstance(parsed, list) else [parsed]
    answers = []
    for m in members:
        if isinstance(m, Invalid):
            answers.append(error_response(m.id, m.error))
        elif not m.notification:
            answers.append(error_response(m.id, error))
    if not answers:
        return None
    return encode(answers if isinstance(parsed, list) else answers[0])


_OUTCOMES = {
    errors.PARSE_ERROR: "parse_error",
    errors.INVALID_REQUEST: "invalid_request",
    errors.METHOD_NOT_FOUND: "method_not_found",
    errors.INVALID_PARAMS: "invalid_params",
    errors.INTERNAL_ERROR: "internal_error",
    errors.AUTH_REQUIRED: "auth_required",
    errors.PERMISSION_DENIED: "permission_denied",
    errors.TOKEN_REVOKED: "token_revoked",
    errors.NOT_FOUND: "not_found",
    errors.CONFLICT: "conflict",
    errors.OVERLOADED: "overloaded",
    errors.TIMED_OUT: "timed_out",
    errors.SHUTTING_DOWN: "shutting_down",
    errors.REFRESH_REUSE: "refresh_reuse",
    errors.INVALID_CREDENTIALS: "invalid_credentials",
}


def _outcome(code: int) -> str:
    return _OUTCOMES.get(code, "error")
