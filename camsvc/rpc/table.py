"""The method table: one entry per JSON-RPC method.

Dispatch, parameter checking, permission checks, ``rpc.discover`` (OpenRPC) and
``docs/api.md`` are all derived from these entries; adding a method is adding one
:class:`Method` to a room's ``METHODS`` list in ``camsvc/rpc/methods/``.

Handlers are ``async def handler(ctx: CallContext, params: dict) -> result`` and
receive params already checked against the method's :class:`Param` list (aliases
mapped to their canonical name, defaults filled in, unknown params dropped). They
raise :mod:`camsvc.errors` exceptions; the dispatcher maps those to error codes.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any

import attrs

from ..security.identity import Identity
from ..security.roles import Role

if TYPE_CHECKING:
    from ..services import Services

#: JSON types a parameter may have (JSON Schema names)
PARAM_TYPES = ("string", "integer", "number", "boolean", "object", "array")

_MISSING = object()


@attrs.frozen
class Param:
    name: str
    type: str | tuple[str, ...]
    required: bool = False
    description: str = ""
    default: Any = _MISSING
    #: other names older clients send for this param (e.g. ``token`` for ``auth_token``)
    aliases: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    #: exclusive lower bound (``> 0``)
    exclusive_minimum: float | None = None
    pattern: str | None = None
    enum: tuple[Any, ...] | None = None
    max_length: int | None = None
    #: for arrays: the JSON type of the items
    items: str | None = None

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": list(self.type) if isinstance(self.type, tuple) else self.type}
        # Dispatch matches the whole string (fullmatch); a JSON Schema pattern matches anywhere, so the
        # published one is anchored to mean the same.
        pattern = f"^(?:{self.pattern})$" if self.pattern is not None else None
        for key, value in (
            ("minimum", self.minimum),
            ("maximum", self.maximum),
            ("exclusiveMinimum", self.exclusive_minimum),
            ("pattern", pattern),
            ("maxLength", self.max_length),
        ):
            if value is not None:
                schema[key] = value
        if self.enum is not None:
            schema["enum"] = list(self.enum)
        if self.items is not None:
            schema["items"] = {"type": self.items}
        if self.has_default:
            schema["default"] = self.default
        return schema


#: the ``device`` param of every method that acts on one camera (spec §3: ids, and the
#: ``/dev/videoN`` compatibility alias); one definition so every method checks it alike
DEVICE = Param(
    "device",
    "string",
    required=True,
    description="Camera id (`camera0`, or a configured id); `/dev/videoN` is accepted as `cameraN`.",
    pattern=r"[a-z0-9_]{1,32}|/dev/video[0-9]{1,3}",
)


@attrs.define(eq=False)
class CallContext:
    """What a handler may use: the services, who is calling, and how they connected."""

    services: Services
    identity: Identity | None
    #: the Host the client connected with (for stream/download URLs), without port
    host: str | None
    #: the connection the request came on (subscriptions live there); None outside a socket
    connection: Any = None
    request_id: str = ""


#: ``async def``: a coroutine function (inline handlers are driven without a task: Dispatcher.run_now)
Handler = Callable[[CallContext, dict[str, Any]], Coroutine[Any, Any, Any]]


@attrs.frozen
class Method:
    name: str
    handler: Handler = attrs.field(eq=False, repr=False)
    #: minimum role; None = callable without authentication
    role: Role | None
    description: str
    params: tuple[Param, ...] = ()
    #: JSON Schema of the result, for rpc.discover and docs
    result: dict[str, Any] = attrs.field(factory=dict)
    #: the room's short name, grouping methods in docs
    group: str = ""
    #: the handler answers from memory and never awaits: the server runs it to its end where the
    #: message was read, in one step and outside any task of its own (Dispatcher.run_now; a test
    #: checks that no inline handler awaits)
    inline: bool = False


class MethodTable:
    def __init__(self, methods: Iterable[Method] = ()) -> None:
        self._methods: dict[str, Method] = {}
        for method in methods:
            self.add(method)

    def add(self, method: Method) -> None:
        if method.name in self._methods:
            raise ValueError(f"method {method.name!r} defined twice")
        self._methods[method.name] = method

    def get(self, name: str) -> Method | None:
        return self._methods.get(name)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._methods.values())

    def __len__(self) -> int:
        return len(self._methods)

    def with_overrides(self, overrides: dict[str, str]) -> MethodTable:
        """The table with per-method minimum roles from config (security.permissions)."""
        unknown = sorted(set(overrides) - set(self._methods))
        if unknown:
            raise ValueError(f"security.permissions names unknown methods: {', '.join(unknown)}")
        return MethodTable(
            attrs.evolve(m, role=Role.parse(overrides[m.name])) if m.name in overrides else m for m in self
        )
