"""The method table: every JSON-RPC method, its params schema, who may call it.

Each module of `protocol.api` declares its methods as a list of `method(...)`
declarations next to their handlers and schemas: that list is the index of its part of
the API, and each name in it leads to the handler's code. The application adds each
list with what its handlers need (`MethodTable.add_all(api.catalog.METHODS, catalog)`).

Params are described once, as JSON Schema; the same schema validates requests
(compiled by fastjsonschema) and is published by `rpc.discover`, so a method appears
in the OpenRPC document by being declared.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

import attrs
import fastjsonschema

from protocol import errors
from protocol.accept import compile_accept
from protocol.calls import Call, Caller
from protocol.errors import RpcError
from protocol.paging import CursorCodec

D = TypeVar("D")

Schema = dict[str, Any]
"""A JSON Schema document."""
Result = object
"""What a handler answers: any value orjson encodes (an object, for every method of the API)."""


class Access(enum.Enum):
    ANYONE = "anyone"
    USER = "user"
    ADMIN = "admin"


Handler = Callable[[Call[D]], Awaitable[Result]]
Authorizer = Callable[[Caller, Access], Awaitable[None] | None]

EMPTY_PARAMS: Schema = {"type": "object", "properties": {}, "additionalProperties": False}


def _no_authorization(caller: Caller, access: Access) -> None:
    if access is not Access.ANYONE:
        raise RpcError(errors.AUTH_REQUIRED, "Authentication required")


@attrs.frozen
class Declaration(Generic[D]):
    """One method as its module declares it (see `method`)."""

    name: str
    handler: Handler[D]
    params: Schema
    result: Schema
    access: Access
    summary: str
    inline: bool


def method(
    name: str,
    handler: Handler[D],
    *,
    params: Schema | None = None,
    result: Schema | None = None,
    access: Access = Access.ANYONE,
    summary: str = "",
    inline: bool = False,
) -> Declaration[D]:
    """Declare `handler` as the method `name`.

    `inline=True` promises the handler never waits on anything that can take long
    (no I/O, no ask of an actor that may be busy): the transport then runs it in the
    connection's reader instead of a task of its own, which saves a task per call.
    """
    return Declaration(name, handler, params or EMPTY_PARAMS, result or {}, access, summary, inline)


@attrs.define(slots=True)
class Method(Generic[D]):
    """A declared method bound to what its handler needs (`domain`)."""

    name: str
    handler: Handler[D]
    params: Schema
    result: Schema
    access: Access
    summary: str
    inline: bool
    domain: D
    table: "MethodTable"
    _validate: Callable[[Any], Any] = attrs.field(repr=False)
    _accept: Callable[[Any], bool] | None = attrs.field(repr=False, default=None)

    async def invoke(self, params: Any, caller: Caller) -> Result:
        if self.access is not Access.ANYONE:
            pending = self.table.authorizer(caller, self.access)
            if pending is not None:
                await pending
        if self.params.get("type") == "array":
            if params is None:
                params = []
        elif params is None:
            params = {}
        elif isinstance(params, list):
            # By-position params map onto the declared properties in order.
            names = list(self.params.get("properties", {}))
            if len(params) > len(names):
                raise errors.invalid_params("params", f"takes at most {len(names)} positional params")
            params = dict(zip(names, params))
        try:
            # fastjsonschema only where the quick check cannot say yes (see protocol.accept).
            if self._accept is None or not self._accept(params):
                self._validate(params)
        except fastjsonschema.JsonSchemaValueException as exc:
            field, message = _describe(exc)
            raise errors.invalid_params(field, message) from None
        return await self.handler(Call(params, caller, self.domain, self.table.cursors))


def _describe(exc: fastjsonschema.JsonSchemaValueException) -> tuple[str, str]:
    """(field, message) from a validation error; fields read like `items[1].rating`."""
    name = exc.name or "data"
    base = name[len("data"):].lstrip(".")

    def join(key: str) -> str:
        return f"{base}.{key}" if base else key

    if exc.rule == "required" and isinstance(exc.value, dict):
        missing = [k for k in exc.rule_definition if k not in exc.value]
        if missing:
            return join(missing[0]), "is required"
    if exc.rule == "additionalProperties" and isinstance(exc.value, dict):
        allowed = set((exc.definition or {}).get("properties", {}))
        extra = sorted(k for k in exc.value if k not in allowed)
        if extra:
            return join(extra[0]), "is not a known field"
    message = exc.message
    if message.startswith(name + " "):
        message = message[len(name) + 1:]
    return base or "params", message


class MethodTable:
    """The methods the engine dispatches to. `authorizer(caller, access)` enforces
    "user" / "admin"; `cursors` signs the listings' cursors (a random key unless the
    application sets one shared by its nodes)."""

    def __init__(self, cursors: CursorCodec | None = None) -> None:
        self._methods: dict[str, Method[Any]] = {}
        self.authorizer: Authorizer = _no_authorization
        self.cursors = cursors if cursors is not None else CursorCodec(secrets.token_bytes(32))

    def add(self, declared: Declaration[D], domain: D) -> None:
        """Serve `declared`, its handler called with `domain` in every `Call`."""
        if declared.name in self._methods:
            raise ValueError(f"method {declared.name} registered twice")
        self._methods[declared.name] = Method(
            name=declared.name,
            handler=declared.handler,
            params=declared.params,
            result=declared.result,
            access=declared.access,
            summary=declared.summary,
            inline=declared.inline,
            domain=domain,
            table=self,
            validate=fastjsonschema.compile(declared.params),
            accept=compile_accept(declared.params),
        )

    def add_all(self, declared: Iterable[Declaration[D]], domain: D) -> None:
        """`add` each declaration of one module, with what its handlers need."""
        for one in declared:
            self.add(one, domain)

    def get(self, name: str) -> Method[Any] | None:
        return self._methods.get(name)

    def __iter__(self) -> Iterator[Method[Any]]:
        return iter(sorted(self._methods.values(), key=lambda m: m.name))

    def __len__(self) -> int:
        return len(self._methods)

    def openrpc(self, *, title: str, version: str) -> dict[str, Any]:
        """The OpenRPC 1.2.6 document of every registered method."""
        methods = []
        for m in self:
            props = m.params.get("properties", {})
            required = set(m.params.get("required", []))
            methods.append(
                {
                    "name": m.name,
                    "summary": m.summary,
                    "paramStructure": "by-position" if m.params.get("type") == "array" else "either",
                    "params": [
                        {"name": pname, "required": pname in required, "schema": pschema}
                        for pname, pschema in props.items()
                    ]
                    if m.params.get("type") != "array"
                    else [{"name": "params", "required": False, "schema": m.params}],
                    "result": {"name": "result", "schema": m.result},
                    "x-access": m.access.value,
                }
            )
        return {"openrpc": "1.2.6", "info": {"title": title, "version": version}, "methods": methods}
