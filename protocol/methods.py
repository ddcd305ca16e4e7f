"""The method table: every JSON-RPC method, its params schema, who may call it.

Each module of `protocol.api` declares its methods as a list of `method(...)`
declarations next to their handlers and schemas: that list is the index of its part of
the API, and each name in it leads to the handler's code. The application adds each
list with what its handlers need (`MethodTable.add_all(api.catalog.METHODS, catalog)`).

Params are described once, as JSON Schema; the same schema validates requests
(compiled by fastjsonschema) and is published by `rpc.discover`, so a method appears
in the OpenRPC document by being declared. A declaration also carries what the
reference needs (protocol.openrpc): the result schema, the errors the method answers
beyond the ones every method of its access level can answer, and examples that the
test suite plays against a real gateway.
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
from protocol.integral import compile_integral
from protocol.json_numbers import OUT_OF_RANGE
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

LENIENT = "x-validate-as"
"""Key of a schema part that the domain checks itself (see `checked_by_domain`)."""


def checked_by_domain(published: Schema, lenient: Schema) -> Schema:
    """A params schema part published exactly as `published` but validated at the edge
    only as `lenient`, because the domain checks the rest itself and reports every
    problem with its own field (`variants[1].weight`), which a schema's first failure
    cannot. The published form must refuse nothing the domain accepts."""
    return {**published, LENIENT: lenient}


def validation_schema(schema: Any) -> Any:
    """`schema` as the edge validates it: every `checked_by_domain` part lenient."""
    if isinstance(schema, dict):
        if LENIENT in schema:
            return schema[LENIENT]
        return {k: validation_schema(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [validation_schema(v) for v in schema]
    return schema


@attrs.frozen
class Example:
    """An example call: `params` and a `result` the method answers to them (tokens,
    ids and times vary from call to call; the shape does not)."""

    name: str
    params: dict[str, Any]
    result: Any
    summary: str = ""


@attrs.frozen
class Notification:
    """A notification the server sends (a JSON-RPC request without id), as published
    under the document's `x-notifications`."""

    name: str
    params: Schema
    summary: str
    description: str = ""


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
    errors: tuple[int, ...] = ()
    examples: tuple[Example, ...] = ()


def method(
    name: str,
    handler: Handler[D],
    *,
    params: Schema | None = None,
    result: Schema | None = None,
    access: Access = Access.ANYONE,
    summary: str = "",
    inline: bool = False,
    errors: Iterable[int] = (),
    examples: Iterable[Example] = (),
) -> Declaration[D]:
    """Declare `handler` as the method `name`.

    `errors`: the codes this method answers beyond those of every method with its
    access level and params (protocol.openrpc adds those). `examples`: at least one
    (tests/e2e/test_openrpc_examples.py plays each against a real gateway).

    `inline=True` promises the handler answers from memory without waiting, but for a
    rare, bounded slow path (experiments.assign's read of a moved bucket, content.list
    before the index is built): the transport then runs it in the connection's reader
    instead of a task of its own, which saves a task per call, and a slow path holds up
    only that connection's later requests.
    """
    return Declaration(name, handler, params or EMPTY_PARAMS, result or {}, access, summary, inline,
                       tuple(errors), tuple(examples))


@attrs.frozen
class Method(Declaration[D]):
    """A declared method bound to what its handler needs (`domain`)."""

    domain: D = attrs.field(kw_only=True)
    table: "MethodTable" = attrs.field(kw_only=True)
    _validate: Callable[[Any], Any] = attrs.field(kw_only=True, repr=False)
    _accept: Callable[[Any], bool] | None = attrs.field(kw_only=True, repr=False, default=None)
    _integral: Callable[[Any], None] | None = attrs.field(kw_only=True, repr=False, default=None)

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
        if self._integral is not None:
            self._integral(params)  # `5.0` where an integer goes is 5 from here on
        return await self.handler(Call(params, caller, self.domain, self.table.cursors))


OUT_OF_RANGE_MESSAGE = "is a number beyond what a 64-bit integer or double holds"


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
    if exc.value is OUT_OF_RANGE:
        return base or "params", OUT_OF_RANGE_MESSAGE
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
            **attrs.asdict(declared, recurse=False),
            domain=domain,
            table=self,
            validate=fastjsonschema.compile(validation_schema(declared.params)),
            accept=compile_accept(validation_schema(declared.params)),
            integral=compile_integral(validation_schema(declared.params)),
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
