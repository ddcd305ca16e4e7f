"""The OpenRPC 1.2.6 document of the API, built from the method declarations (no I/O).

`document(methods, notifications, ...)` is what `rpc.discover` answers and what
`python main.py docs` writes to docs/openrpc.json (and turns into docs/API.md and the
clients' generated types). What it holds beyond the declarations:

- every schema with a `title` is moved to `components.schemas` and referred to by
  `$ref`; a method's result without a title is named `<Method>Result`
  (`search.corrections.add` -> `SearchCorrectionsAddResult`), so every named schema has
  a title and generators get type names;
- each method's `errors`: what it declared, plus what every method of its access level
  and params can answer (`COMMON_ERRORS`, `ACCESS_ERRORS`, -32602 when it takes
  params), as references to `components.errors`;
- `examples`: the declarations' example pairings;
- `x-access` on each method (`anyone`, `user`, `admin`) and the document's
  `x-notifications`: the notifications the server sends, each shaped like a method
  object without result (name, summary, params), since OpenRPC 1.2 has no place for
  server-to-client messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from protocol import errors
from protocol.methods import LENIENT, Access, Example, Notification, Schema

OPENRPC_VERSION = "1.2.6"
REF_PREFIX = "#/components/schemas/"

ERRORS: dict[int, tuple[str, str]] = {
    errors.INVALID_PARAMS: ("InvalidParams", "Invalid params: data.errors lists [{field, message}]"),
    errors.AUTH_REQUIRED: ("AuthRequired", "Authentication required, or the token is invalid or expired"),
    errors.PERMISSION_DENIED: ("PermissionDenied", "Permission denied"),
    errors.TOKEN_REVOKED: ("TokenRevoked", "Token revoked"),
    errors.NOT_FOUND: ("NotFound", "Not found"),
    errors.CONFLICT: ("Conflict", "Conflict: it already exists"),
    errors.OVERLOADED: ("Overloaded", "Overloaded, retry later (data.retry_after in seconds when known)"),
    errors.TIMED_OUT: ("TimedOut", "Timed out (a database call took longer than --db-timeout)"),
    errors.SHUTTING_DOWN: ("ShuttingDown", "The server is shutting down: reconnect to another node or later"),
    errors.REFRESH_REUSE: ("RefreshReuse", "Refresh token reuse detected: the whole family is now revoked"),
    errors.INVALID_CREDENTIALS: ("InvalidCredentials", "Invalid credentials"),
    errors.INTERNAL_ERROR: ("InternalError", "Internal error (no detail is given)"),
}
"""Every error a method can answer: code -> (component name, meaning)."""

COMMON_ERRORS = (errors.OVERLOADED, errors.SHUTTING_DOWN, errors.INTERNAL_ERROR)
"""What any method can answer."""

ACCESS_ERRORS: dict[Access, tuple[int, ...]] = {
    Access.ANYONE: (),
    Access.USER: (errors.AUTH_REQUIRED, errors.TOKEN_REVOKED),
    Access.ADMIN: (errors.AUTH_REQUIRED, errors.TOKEN_REVOKED, errors.PERMISSION_DENIED),
}


class Described(Protocol):
    """A method as the document needs it (a `Declaration` or a served `Method`)."""

    @property
    def name(self) -> str: ...
    @property
    def params(self) -> Schema: ...
    @property
    def result(self) -> Schema: ...
    @property
    def access(self) -> Access: ...
    @property
    def summary(self) -> str: ...
    @property
    def errors(self) -> tuple[int, ...]: ...
    @property
    def examples(self) -> tuple[Example, ...]: ...


def result_title(method_name: str) -> str:
    """`search.corrections.add` -> `SearchCorrectionsAddResult`."""
    return "".join(part[:1].upper() + part[1:] for part in method_name.replace("_", ".").split(".")) + "Result"


def error_codes(m: Described) -> list[int]:
    """Every code `m` can answer, in a stable order."""
    codes = set(m.errors) | set(COMMON_ERRORS) | set(ACCESS_ERRORS[m.access])
    if m.params.get("properties") or m.params.get("type") == "array":
        codes.add(errors.INVALID_PARAMS)
    return sorted(codes, reverse=True)


class _Components:
    """Collects titled schemas into `components.schemas`, replacing them by `$ref`."""

    def __init__(self) -> None:
        self.schemas: dict[str, Schema] = {}

    def use(self, schema: Any) -> Any:
        if isinstance(schema, list):
            return [self.use(s) for s in schema]
        if not isinstance(schema, dict):
            return schema
        out = {k: self.use(v) for k, v in schema.items() if k != LENIENT}
        title = schema.get("title")
        if not isinstance(title, str):
            return out
        known = self.schemas.setdefault(title, out)
        if known != out:
            raise ValueError(f"two different schemas are titled {title!r}: give one of them another title")
        return {"$ref": REF_PREFIX + title}

    def named(self, schema: Schema, default_title: str) -> Any:
        return self.use(schema if "title" in schema else {"title": default_title, **schema})


def _params(m: Described, components: _Components) -> list[dict[str, Any]]:
    if m.params.get("type") == "array":
        return [{"name": "params", "required": False, "schema": components.use(m.params)}]
    required = set(m.params.get("required", []))
    return [{"name": name, "required": name in required, "schema": components.use(schema),
             **({"description": schema["description"]} if isinstance(schema.get("description"), str) else {})}
            for name, schema in m.params.get("properties", {}).items()]


def _examples(m: Described) -> list[dict[str, Any]]:
    return [{"name": ex.name, **({"summary": ex.summary} if ex.summary else {}),
             "params": [{"name": k, "value": v} for k, v in ex.params.items()],
             "result": {"name": "result", "value": ex.result}}
            for ex in m.examples]


def document(methods: Iterable[Described], notifications: Iterable[Notification] = (), *,
             title: str, version: str, servers: Sequence[dict[str, Any]] = (),
             description: str = "") -> dict[str, Any]:
    """The OpenRPC document of `methods` (sorted by name) and `notifications`."""
    components = _Components()
    used_errors: set[int] = set()
    out_methods = []
    for m in sorted(methods, key=lambda m: m.name):
        codes = error_codes(m)
        used_errors.update(codes)
        out_methods.append({
            "name": m.name,
            "summary": m.summary,
            "paramStructure": "by-position" if m.params.get("type") == "array" else "either",
            "params": _params(m, components),
            "result": {"name": "result", "required": True, "schema": components.named(m.result, result_title(m.name))},
            "errors": [{"$ref": f"#/components/errors/{ERRORS[code][0]}"} for code in codes],
            "examples": _examples(m),
            "x-access": m.access.value,
        })
    out_notifications = [
        {"name": n.name, "summary": n.summary,
         **({"description": n.description} if n.description else {}),
         "params": [{"name": name, "required": name in set(n.params.get("required", [])),
                     "schema": components.use(schema)}
                    for name, schema in n.params.get("properties", {}).items()]}
        for n in sorted(notifications, key=lambda n: n.name)]
    info: dict[str, Any] = {"title": title, "version": version}
    if description:
        info["description"] = description
    doc: dict[str, Any] = {"openrpc": OPENRPC_VERSION, "info": info}
    if servers:
        doc["servers"] = list(servers)
    doc["methods"] = out_methods
    doc["components"] = {
        "schemas": dict(sorted(components.schemas.items())),
        "errors": {ERRORS[code][0]: {"code": code, "message": ERRORS[code][1]}
                   for code in sorted(used_errors, reverse=True)},
    }
    doc["x-notifications"] = out_notifications
    return doc


def resolve(schema: Any, doc: dict[str, Any]) -> Any:
    """`schema` with every `$ref` into `doc`'s components replaced by its target."""
    if isinstance(schema, list):
        return [resolve(s, doc) for s in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(REF_PREFIX):
        return resolve(doc["components"]["schemas"][ref[len(REF_PREFIX):]], doc)
    return {k: resolve(v, doc) for k, v in schema.items()}
