"""JSON-RPC 2.0 envelopes (spec §1) and the one mapping of domain errors to codes (spec §6).

Everything here is pure: text in, values out. Error objects always have the shape
``{"code", "message", "data": {"reason", ...}}``; internal errors never carry a
traceback, only the request id under which the server logged it.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .. import errors

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
AUTH = -32001
PERMISSION = -32002
STORAGE = -32007
NOT_FOUND = -32010
INVALID_STATE = -32020
UNSUPPORTED = -32030
RATE_LIMITED = -32040
DEPENDENCY = -32050

MESSAGES = {
    PARSE_ERROR: "Parse error",
    INVALID_REQUEST: "Invalid Request",
    METHOD_NOT_FOUND: "Method not found",
    INVALID_PARAMS: "Invalid params",
    INTERNAL_ERROR: "Internal error",
    PERMISSION: "Permission denied",
    STORAGE: "Insufficient storage",
    INVALID_STATE: "Invalid state",
    UNSUPPORTED: "Unsupported",
    RATE_LIMITED: "Rate limit exceeded",
    DEPENDENCY: "Dependency failed",
}

_NOT_FOUND_MESSAGES = {"camera": "Camera not found", "file": "File not found", "stream": "Stream not found"}

#: domain error class → code; the only place this mapping exists
_CODES: tuple[tuple[type[errors.CamsvcError], int], ...] = (
    (errors.InvalidParams, INVALID_PARAMS),
    (errors.AuthFailed, AUTH),
    (errors.PermissionDenied, PERMISSION),
    (errors.InsufficientStorage, STORAGE),
    (errors.NotFound, NOT_FOUND),
    (errors.InvalidState, INVALID_STATE),
    (errors.Unsupported, UNSUPPORTED),
    (errors.RateLimited, RATE_LIMITED),
    (errors.DependencyFailed, DEPENDENCY),
)


class ProtocolError(Exception):
    """An envelope-level error (-32700, -32600, -32601, -32602 for positional params)."""

    def __init__(self, code: int, reason: str, **data: Any) -> None:
        super().__init__(reason)
        self.code = code
        self.data = {"reason": reason, **data}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_decoder = json.JSONDecoder(parse_constant=_reject_constant)
# Compact, ASCII-safe and strict: a NaN in a result is a bug, not something to send.
_encoder = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
encode = _encoder.encode
_encode_str: Any = json.encoder.encode_basestring_ascii  # what the encoder uses for str (ensure_ascii)


_scan_once: Any = _decoder.scan_once  # type: ignore[attr-defined]  # set by JSONDecoder.__init__


def _parse(text: str) -> Any:
    """``_decoder.decode(text)``, with a shortcut for the usual message.

    A request is an object (or a batch array) with nothing around it: the scanner alone
    parses it, skipping decode()'s whitespace regexes and two Python-level calls. Anything
    else, and any failure, goes through decode() itself, so values and verdicts are its own.
    """
    if text[:1] in "{[" and text[-1:] in "}]":
        try:
            value, end = _scan_once(text, 0)
        except Exception:  # StopIteration, ValueError, RecursionError: decode() gives the verdict
            return _decoder.decode(text)
        if end == len(text):
            return value
    return _decoder.decode(text)


def decode(text: str | bytes) -> Any:
    """Parse a message; ProtocolError(-32700) for anything that is not JSON."""
    try:
        return _parse(text if isinstance(text, str) else text.decode("utf-8"))
    except RecursionError:
        raise ProtocolError(PARSE_ERROR, "too_deeply_nested") from None
    except UnicodeDecodeError:
        raise ProtocolError(PARSE_ERROR, "invalid_utf8") from None
    except ValueError:  # JSONDecodeError, over-long integers, NaN/Infinity literals
        raise ProtocolError(PARSE_ERROR, "invalid_json") from None


def valid_id(value: Any) -> bool:
    if value is None or isinstance(value, str):
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


def error_object(code: int, data: dict[str, Any], message: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message or MESSAGES.get(code, "Error"), "data": data}


def map_error(exc: errors.CamsvcError) -> dict[str, Any]:
    """The JSON-RPC error object of a domain error."""
    data = exc.details()
    for cls, code in _CODES:
        if isinstance(exc, cls):
            if code == AUTH:
                message = "Authentication required" if exc.reason == "auth_required" else "Authentication failed"
            elif code == NOT_FOUND:
                message = _NOT_FOUND_MESSAGES.get(str(exc.data.get("resource")), "Not found")
            else:
                message = MESSAGES[code]
            if code == INVALID_PARAMS:
                data.setdefault("param", None)
            return error_object(code, data, message)
    return error_object(INTERNAL_ERROR, data)


def internal_error(request_id: str) -> dict[str, Any]:
    return error_object(INTERNAL_ERROR, {"reason": "internal_error", "request_id": request_id})


def response(id_: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "result": result}


class Encoded:
    """A result already encoded as JSON text.

    A handler whose answer is a cached value (get_camera_list between registry changes)
    returns its text once encoded, and every answer splices that text instead of
    encoding the same objects again.
    """

    __slots__ = ("text",)

    def __init__(self, value: Any) -> None:
        self.text: str = encode(value)


def response_text(id_: Any, result: Any) -> str:
    """``encode(response(id_, result))``, byte for byte, without building the envelope dict.

    Every successful answer goes through here; splicing the two encoded values into the
    constant envelope spares a dict and a walk of it per request.
    """
    id_text = str(id_) if type(id_) is int else encode(id_)
    result_text: str
    if type(result) is str:
        result_text = _encode_str(result)
    elif type(result) is Encoded:
        result_text = result.text
    else:
        result_text = encode(result)
    return '{"jsonrpc":"2.0","id":' + id_text + ',"result":' + result_text + "}"


def error_response(id_: Any, error: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "error": error}
