"""Dispatch: one JSON-RPC message in, its response text out (spec §1, §2, §6).

The order of checks for each request is fixed and the same for every method:
envelope → rate limit → method lookup → compatibility ``auth_token`` → session
re-check (expiry, revocation) → role → params → handler. Because the permission
check comes before the handler, every (method, role) cell of the matrix answers
-32001/-32002 the same way whatever the room behind the method does.

:meth:`Dispatcher.prepare` does everything up to the handler synchronously, so the
connection can decide whether to run the handler where the message was read
(``inline`` methods, :meth:`Dispatcher.run_now`) or in a task of its own.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

import attrs

from .. import errors
from ..security.identity import Identity
from ..services import Services
from . import protocol as p
from .params import ParamChecker
from .stats import UNKNOWN_METHOD, RpcStats
from .table import CallContext, Method, MethodTable

log = logging.getLogger("camsvc.rpc")

_NO_ID = object()


class Peer(Protocol):
    """What dispatch needs from a connection."""

    id: str
    identity: Identity | None
    #: client IP address (failed-auth throttle key)
    address: str
    #: the Host the client connected with, without port
    host: str | None

    def take_token(self) -> float:
        """Rate limit: 0.0 when the request may run, else seconds until it may."""

    def authenticated(self, identity: Identity) -> None:
        """The connection's identity was (re)placed."""


@attrs.define(eq=False, slots=True)
class Call:
    """A request that passed every check and is ready to run its handler."""

    method: Method
    id: Any
    params: dict[str, Any]
    ctx: CallContext
    started: float


@attrs.define(eq=False, slots=True)
class Prepared:
    """A checked message: for a single request either ``answer`` (send it now) or one call;
    for a batch the answers already known (``early``) and the calls still to run."""

    answer: str | None = None
    calls: list[Call] = attrs.Factory(list)
    batch: bool = False
    #: a batch's list; a single request's shared empty tuple (one list less per request)
    early: Sequence[str] = ()

    def assemble(self, results: list[str | None]) -> str | None:
        """The batch's answer array (None when every element was a notification)."""
        parts = [*self.early, *(r for r in results if r is not None)]
        return "[" + ",".join(parts) + "]" if parts else None


class Dispatcher:
    def __init__(self, table: MethodTable, services: Services, stats: RpcStats) -> None:
        self.table = table
        self.services = services
        self.stats = stats
        #: name → the method and its compiled param checks (one lookup per request)
        self._methods = {m.name: (m, ParamChecker(m)) for m in table}
        self._counter = itertools.count(1)

    # ------------------------------------------------------------- public

    async def handle_text(self, peer: Peer, text: str) -> str | None:
        """The complete answer to one message (None: nothing to send); calls run one after another."""
        prepared = self.prepare(peer, text)
        if not prepared.batch:
            return await self.run(prepared.calls[0]) if prepared.calls else prepared.answer
        return prepared.assemble([await self.run(c) for c in prepared.calls])

    def prepare(self, peer: Peer, text: str) -> Prepared:
        """Parse a message and run every check before the handlers."""
        try:
            message = p.decode(text)
        except p.ProtocolError as exc:
            self.stats.record(UNKNOWN_METHOD, exc.code, 0.0)
            return Prepared(p.encode(p.error_response(None, p.error_object(exc.code, exc.data))))
        if isinstance(message, list):
            if not message:
                self.stats.record(UNKNOWN_METHOD, p.INVALID_REQUEST, 0.0)
                error = p.error_object(p.INVALID_REQUEST, {"reason": "empty_batch"})
                return Prepared(p.encode(p.error_response(None, error)))
            early: list[str] = []
            prepared = Prepared(batch=True, early=early)
            for item in message:
                answer, call = self._prepare_one(peer, item)
                if answer is not None:
                    early.append(answer)
                if call is not None:
                    prepared.calls.append(call)
            if not prepared.calls:
                prepared.answer = prepared.assemble([])
            return prepared
        answer, call = self._prepare_one(peer, message)
        return Prepared(answer, [call] if call is not None else [])

    async def run(self, call: Call) -> str | None:
        """Run a prepared call's handler; its response text (None for a notification)."""
        return await self._run(call)

    def run_now(self, call: Call) -> str | None:
        """Run an ``inline`` call's handler to its end right here, outside any task of its own.

        Inline handlers answer from memory and never await (a test checks every one); one that
        suspended anyway is stopped and answered with an internal error, never left half-run.
        """
        coro = call.method.handler(call.ctx, call.params)
        try:
            coro.send(None)
        except StopIteration as done:
            return self._answer(call, done.value)
        except Exception as exc:
            return self._failed(call, exc)
        coro.close()
        log.error("inline handler suspended", extra={"request_id": call.ctx.request_id, "method": call.method.name})
        return self._error(call.id, p.internal_error(call.ctx.request_id), call.method.name, call.started)

    # ------------------------------------------------------------ internal

    def _error(self, id_: Any, error: dict[str, Any], method: str, started: float) -> str | None:
        self.stats.record(method, error["code"], time.monotonic() - started)
        if id_ is _NO_ID:
            return None
        return p.encode(p.error_response(id_, error))

    def _prepare_one(self, peer: Peer, message: Any) -> tuple[str | None, Call | None]:
        started = time.monotonic()
        if not isinstance(message, dict):
            return self._error(None, p.error_object(p.INVALID_REQUEST, {"reason": "not_an_object"}), UNKNOWN_METHOD, started), None
        id_ = message.get("id", _NO_ID)
        if id_ is not _NO_ID and type(id_) is not int and not p.valid_id(id_):
            return self._error(None, p.error_object(p.INVALID_REQUEST, {"reason": "invalid_id"}), UNKNOWN_METHOD, started), None
        # Envelope errors are answered even without an id (the message is not a valid notification).
        reply_id = None if id_ is _NO_ID else id_
        if message.get("jsonrpc") != "2.0":
            return self._error(reply_id, p.error_object(p.INVALID_REQUEST, {"reason": "invalid_jsonrpc_version"}), UNKNOWN_METHOD, started), None
        name = message.get("method")
        if not isinstance(name, str):
            reason = "missing_method" if name is None else "invalid_method"
            return self._error(reply_id, p.error_object(p.INVALID_REQUEST, {"reason": reason}), UNKNOWN_METHOD, started), None
        raw_params = message.get("params", {})
        if isinstance(raw_params, list):
            error = p.error_object(p.INVALID_PARAMS, {"reason": "positional_params", "param": None},
                                   "Invalid params")
            return self._error(id_, error, name if self.table.get(name) else UNKNOWN_METHOD, started), None
        if raw_params is None:
            raw_params = {}
        if not isinstance(raw_params, dict):
            return self._error(reply_id, p.error_object(p.INVALID_REQUEST, {"reason": "invalid_params_type"}), UNKNOWN_METHOD, started), None

        wait = peer.take_token()
        if wait > 0:
            return self._error(id_, p.map_error(errors.RateLimited(int(wait * 1000) + 1)), name if self.table.get(name) else UNKNOWN_METHOD, started), None
        entry = self._methods.get(name)
        if entry is None:
            error = p.error_object(p.METHOD_NOT_FOUND, {"reason": "method_not_found", "method": name})
            return self._error(id_, error, UNKNOWN_METHOD, started), None
        method, checker = entry
        try:
            params = self._authorize(peer, method, raw_params)
            checked = checker(params)
        except errors.CamsvcError as exc:
            return self._error(id_, p.map_error(exc), name, started), None
        request_id = f"{peer.id}.{next(self._counter)}"
        ctx = CallContext(self.services, peer.identity, peer.host, peer, request_id)  # positional: faster
        return None, Call(method, id_, checked, ctx, started)

    def _authorize(self, peer: Peer, method: Method, params: dict[str, Any]) -> dict[str, Any]:
        auth = self.services.auth
        if "auth_token" in params and method.name != "authenticate":
            # Compatibility: any method may carry auth_token; authenticate with it first, then strip it.
            params = dict(params)
            token = params.pop("auth_token")
            if not isinstance(token, str):
                raise errors.InvalidParams("auth_token", "wrong_type", "invalid parameter 'auth_token': expected string")
            peer.authenticated(auth.identify_throttled(token, peer.address))
        if method.role is None:
            return params
        identity = peer.identity
        if identity is None:
            raise errors.AuthFailed("auth_required", "authentication required")
        auth.check(identity)
        if not identity.role.allows(method.role):
            raise errors.PermissionDenied(method.role.label, identity.role.label)
        return params

    async def _run(self, call: Call) -> str | None:
        try:
            result = await call.method.handler(call.ctx, call.params)
        except Exception as exc:
            return self._failed(call, exc)
        return self._answer(call, result)

    def _answer(self, call: Call, result: Any) -> str | None:
        try:
            text = None if call.id is _NO_ID else p.response_text(call.id, result)
        except Exception as exc:  # a result that is not JSON (NaN, a stray object): a bug, answered as one
            return self._failed(call, exc)
        self.stats.record(call.method.name, 0, time.monotonic() - call.started)
        return text

    def _failed(self, call: Call, exc: Exception) -> str | None:
        method = call.method.name
        if isinstance(exc, errors.CamsvcError):
            error = p.map_error(exc)
            if error["code"] == p.INTERNAL_ERROR:
                log.error("domain error without a code", extra={"request_id": call.ctx.request_id, "method": method, "error": repr(exc)})
                error["data"]["request_id"] = call.ctx.request_id
            return self._error(call.id, error, method, call.started)
        # Never a traceback on the wire: the client gets the id under which it was logged.
        log.error("handler failed", exc_info=exc, extra={"request_id": call.ctx.request_id, "method": method})
        return self._error(call.id, p.internal_error(call.ctx.request_id), method, call.started)
