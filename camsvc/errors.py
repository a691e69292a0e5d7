"""Domain errors raised anywhere in the service.

Each carries a stable snake_case ``reason`` and the extra ``data`` keys the API
contract lists for it. Only the RPC layer (``camsvc.rpc``) maps these classes to
JSON-RPC codes, and only the HTTP layer maps them to status codes; domain code
never knows about either.
"""

from __future__ import annotations

from typing import Any


class CamsvcError(Exception):
    """Base class: ``reason`` is what clients switch on; ``data`` holds the other fields."""

    default_reason = "error"

    def __init__(self, reason: str | None = None, message: str | None = None, **data: Any) -> None:
        self.reason = reason or self.default_reason
        self.data = {k: v for k, v in data.items() if v is not None}
        super().__init__(message or self.reason)

    def details(self) -> dict[str, Any]:
        """``{"reason": ..., **data}`` as the API's error ``data`` object."""
        return {"reason": self.reason, **self.data}


class InvalidParams(CamsvcError):
    """A parameter is missing, of the wrong type, or out of range."""

    default_reason = "invalid_params"

    def __init__(self, param: str | None, reason: str = "invalid_value", message: str | None = None, **data: Any) -> None:
        super().__init__(reason, message or f"invalid parameter {param!r}: {reason}", param=param, **data)


class NotFound(CamsvcError):
    """``resource`` is one of camera, file, stream."""

    def __init__(self, resource: str, id: str, reason: str | None = None) -> None:  # noqa: A002
        super().__init__(reason or f"{resource}_not_found", f"{resource} {id!r} not found", resource=resource, id=id)


class InvalidState(CamsvcError):
    """The operation does not fit the current state (already_recording, file_in_use, ...)."""

    default_reason = "invalid_state"


class InsufficientStorage(CamsvcError):
    default_reason = "insufficient_storage"

    def __init__(self, usage_percentage: float, block_percent: float) -> None:
        super().__init__(
            None,
            f"disk usage {usage_percentage:.1f}% is at or above the block threshold {block_percent:g}%",
            usage_percentage=round(usage_percentage, 2),
            block_percent=block_percent,
        )


class Unsupported(CamsvcError):
    default_reason = "unsupported"

    def __init__(self, feature: str, reason: str | None = None, message: str | None = None) -> None:
        super().__init__(reason or "feature_disabled", message, feature=feature)


class RateLimited(CamsvcError):
    default_reason = "rate_limited"

    def __init__(self, retry_after_ms: int, reason: str | None = None) -> None:
        super().__init__(reason, None, retry_after_ms=int(retry_after_ms))


class DependencyFailed(CamsvcError):
    """MediaMTX or ffmpeg failed; ``detail`` says how (no tracebacks)."""

    def __init__(self, dependency: str, detail: str, reason: str | None = None) -> None:
        super().__init__(reason or f"{dependency}_failed", f"{dependency}: {detail}", dependency=dependency, detail=detail)


class AuthFailed(CamsvcError):
    """auth_required, invalid_token, token_expired, unknown_key, revoked_key."""

    default_reason = "auth_required"


class PermissionDenied(CamsvcError):
    default_reason = "insufficient_role"

    def __init__(self, required_role: str, role: str | None) -> None:
        super().__init__(None, f"requires role {required_role}", required_role=required_role, role=role)
