"""The method table: every JSON-RPC method, its params schema, who may call it.

Params are described once, as JSON Schema; the same schema validates requests
(compiled by fastjsonschema) and is published by `rpc.discover`, so a method appears
in the OpenRPC document by being registered.
"""

from __future__ import annotations

import enum
from typing import Any, Awaitable, Callable, Iterator

import attrs
import fastjsonschema

from protocol import errors
from protocol.accept import compile_accept
from protocol.errors import RpcError


class Access(enum.Enum):
    ANYONE = "anyone"
    USER = "user"
    ADMIN = "admin"


Handler = Callable[[dict[str, Any], Any], Awaitable[Any]]
Authorizer = Callable[[Any, Access], Awaitable[None] | None]

EMPTY_PARAMS: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}


def _no_authorization(ctx: Any, access: Access) -> None:
    if access is not Access.ANYONE:
        raise RpcError(errors.AUTH_REQUIRED, "Authentication required")


@attrs.define(slots=True)
class Method:
    name: str
    handler: Handler
    params: dict[str, Any]
    result: dict[str, Any]
    access: Access
    summary: str
    inline: bool
    table: "MethodTable"
    _validate: Callable[[Any], Any] = attrs.field(repr=False)
    _accept: Callable[[Any], bool] | None = attrs.field(repr=False, default=None)

    async def invoke(self, params: Any, ctx: Any) -> Any:
        if self.access is not Access.ANYONE:
            pending = self.table.authorizer(ctx, self.access)
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
        return await self.handler(params, ctx)


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
    """Registry of methods; `authorizer(ctx, access)` enforces "user" / "admin"."""

    def __init__(self) -> None:
        self._methods: dict[str, Method] = {}
        self.authorizer: Authorizer = _no_authorization

    def add(
        self,
        name: str,
        handler: Handler,
        *,
        params: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
        access: Access = Access.ANYONE,
        summary: str = "",
        inline: bool = False,
    ) -> None:
        """Register `handler` under `name`.

        `inline=True` promises the handler never waits on anything that can take long
        (no I/O, no ask of an actor that may be busy): the transport then runs it in the
        connection's reader instead of a task of its own, which saves a task per call.
        """
        if name in self._methods:
            raise ValueError(f"method {name} registered twice")
        schema = params or EMPTY_PARAMS
        self._methods[name] = Method(
            name=name,
            handler=handler,
            params=schema,
            result=result or {},
            access=access,
            summary=summary,
            inline=inline,
            table=self,
            validate=fastjsonschema.compile(schema),
            accept=compile_accept(schema),
        )

    def method(self, name: str, **options: Any) -> Callable[[Handler], Handler]:
        """Decorator form of `add`."""

        def register(handler: Handler) -> Handler:
            self.add(name, handler, **options)
            return handler

        return register

    def get(self, name: str) -> Method | None:
        return self._methods.get(name)

    def __iter__(self) -> Iterator[Method]:
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
