"""Python SDK of the camsvc API: :class:`Client` (async, trio) and :class:`SyncClient` (blocking).

Client code needs only this package, trio, trio-websocket and httpx: nothing here
imports the service. See docs/client.md.
"""

from .client import Client
from .connection import Backoff, CallTimeout, Notification
from .errors import (
    ERROR_CLASSES,
    AuthError,
    ClientError,
    ConnectError,
    ConnectionLost,
    DependencyFailed,
    DownloadError,
    InsufficientStorage,
    InternalError,
    InvalidParams,
    InvalidRequest,
    InvalidState,
    MethodNotFound,
    NotFound,
    ParseError,
    PermissionDenied,
    RateLimited,
    RpcError,
    Unsupported,
)
from .sync import SyncClient

__all__ = [
    "ERROR_CLASSES",
    "AuthError",
    "Backoff",
    "CallTimeout",
    "Client",
    "ClientError",
    "ConnectError",
    "ConnectionLost",
    "DependencyFailed",
    "DownloadError",
    "InsufficientStorage",
    "InternalError",
    "InvalidParams",
    "InvalidRequest",
    "InvalidState",
    "MethodNotFound",
    "NotFound",
    "Notification",
    "ParseError",
    "PermissionDenied",
    "RateLimited",
    "RpcError",
    "SyncClient",
    "Unsupported",
]
