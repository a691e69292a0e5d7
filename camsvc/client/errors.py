"""Exceptions of the client: one class per code of the API's error catalog (spec §6).

Switch on the class (or ``code``) and on ``reason``, never on the message::

    try:
        await client.start_recording("camera0")
    except InvalidState as exc:
        if exc.reason == "already_recording": ...
    except RateLimited as exc:
        await trio.sleep(exc.retry_after or 1)
"""

from __future__ import annotations

from typing import Any, ClassVar


class ClientError(Exception):
    """Base of everything this package raises."""


class ConnectError(ClientError):
    """The service could not be reached (refused, unreachable, bad URL, handshake rejected)."""


class ConnectionLost(ClientError):
    """The connection dropped while a call was in flight: whether it took effect is unknown."""


class DownloadError(ClientError):
    """A file download failed; ``status`` is the HTTP status (0: no response), ``reason`` the server's."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class RpcError(ClientError):
    """An error response. ``reason`` is ``data.reason``; ``retry_after`` is in seconds (or None)."""

    code: ClassVar[int] = 0

    def __init__(self, code: int, message: str, data: dict[str, Any] | None = None) -> None:
        self.code = code  # type: ignore[misc]  # the instance keeps the code it was sent, even if unknown
        self.message = message
        self.data: dict[str, Any] = dict(data or {})
        self.reason: str = str(self.data.get("reason", "unknown"))
        retry_ms = self.data.get("retry_after_ms")
        self.retry_after: float | None = retry_ms / 1000 if isinstance(retry_ms, int | float) else None
        super().__init__(f"{code} {message} ({self.reason})")


class ParseError(RpcError):
    code = -32700


class InvalidRequest(RpcError):
    code = -32600


class MethodNotFound(RpcError):
    code = -32601


class InvalidParams(RpcError):
    code = -32602


class InternalError(RpcError):
    code = -32603


class AuthError(RpcError):
    """auth_required, invalid_token, token_expired, unknown_key, revoked_key."""

    code = -32001


class PermissionDenied(RpcError):
    code = -32002


class InsufficientStorage(RpcError):
    code = -32007


class NotFound(RpcError):
    code = -32010


class InvalidState(RpcError):
    code = -32020


class Unsupported(RpcError):
    code = -32030


class RateLimited(RpcError):
    code = -32040


class DependencyFailed(RpcError):
    code = -32050


#: code → class, for every code of the catalog
ERROR_CLASSES: dict[int, type[RpcError]] = {
    cls.code: cls
    for cls in (
        ParseError,
        InvalidRequest,
        MethodNotFound,
        InvalidParams,
        InternalError,
        AuthError,
        PermissionDenied,
        InsufficientStorage,
        NotFound,
        InvalidState,
        Unsupported,
        RateLimited,
        DependencyFailed,
    )
}


def error_from(error: Any) -> RpcError:
    """The exception for a response's ``error`` member (a plain RpcError for codes outside the catalog)."""
    if not isinstance(error, dict):
        return RpcError(0, "malformed error response", {"reason": "malformed_error"})
    code = error.get("code")
    code = code if isinstance(code, int) else 0
    data = error.get("data")
    cls = ERROR_CLASSES.get(code, RpcError)
    return cls(code, str(error.get("message", "")), data if isinstance(data, dict) else None)
