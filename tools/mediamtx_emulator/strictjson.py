"""Strict JSON decoding with Go's error messages.

MediaMTX decodes request bodies with ``encoding/json`` after a pass that forbids unknown keys
(``internal/conf/jsonwrapper``). Clients see Go's wording in the 400 body, so this module reproduces it:
syntax errors (``unexpected end of JSON input``, ``invalid character 'x' looking for beginning of value``),
unknown fields (``json: unknown field "x"``) and type mismatches
(``json: cannot unmarshal string into Go value of type bool``).

A *kind* describes one Go field type: how to check a decoded JSON value, how to store it, and how to
print it back (durations and sizes are normalised on output, like MediaMTX does).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from tools.mediamtx_emulator.gotypes import (
    GoValueError,
    format_byte_size,
    format_mtx_duration,
    go_float,
    parse_byte_size,
    parse_mtx_duration,
)


class DecodeError(Exception):
    """A body MediaMTX rejects with 400; the message is what MediaMTX puts in ``error``."""


class _FloatLiteral(float):
    """A JSON number with a fraction or exponent, remembering how it was written (Go quotes it)."""

    literal: str

    def __new__(cls, text: str) -> _FloatLiteral:
        obj = super().__new__(cls, float(text))
        obj.literal = text
        return obj


def _reject_constant(name: str) -> Any:
    raise DecodeError(f"invalid character {_quote_char(name[0])} looking for beginning of value")


def _quote_char(c: str) -> str:
    if c == "'":
        return "'\\''"
    if c == '"':
        return "'\"'"
    return "'" + json.dumps(c)[1:-1] + "'"


def _container_at(doc: str, pos: int) -> str | None:
    """Innermost open container ('{' or '[') at ``pos``, skipping string contents."""
    stack: list[str] = []
    in_string = escaped = False
    for ch in doc[:pos]:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append(ch)
        elif ch in "}]" and stack:
            stack.pop()
    return stack[-1] if stack else None


def _go_syntax_message(doc: str, err: json.JSONDecodeError) -> str:
    pos = err.pos
    if pos >= len(doc.rstrip(" \t\r\n")) or err.msg.startswith("Unterminated string"):
        return "unexpected end of JSON input"
    c = _quote_char(doc[pos])
    msg = err.msg
    if msg.startswith("Expecting value"):
        return f"invalid character {c} looking for beginning of value"
    if msg.startswith("Expecting property name"):
        return f"invalid character {c} looking for beginning of object key string"
    if msg.startswith("Expecting ':'"):
        return f"invalid character {c} after object key"
    if msg.startswith("Expecting ','"):
        if _container_at(doc, pos) == "[":
            return f"invalid character {c} after array element"
        return f"invalid character {c} after object key:value pair"
    if msg.startswith("Extra data"):
        return f"invalid character {c} after top-level value"
    if msg.startswith("Invalid control character"):
        return f"invalid character {c} in string literal"
    if msg.startswith("Invalid \\escape") or msg.startswith("Invalid \\u"):
        return f"invalid character {c} in string escape code"
    return f"invalid character {c} looking for beginning of value"


def parse_json(body: bytes) -> Any:
    """``json.Unmarshal`` into ``any``: raises DecodeError with Go's syntax messages."""
    try:
        doc = body.decode("utf-8")
    except UnicodeDecodeError:
        doc = body.decode("utf-8", errors="replace")
    try:
        return json.loads(doc, parse_float=_FloatLiteral, parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        raise DecodeError(_go_syntax_message(doc, err)) from None


def json_type_name(value: Any) -> str:
    """The ``Value`` part of Go's UnmarshalTypeError."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def type_error(value: Any, go_type: str) -> DecodeError:
    return DecodeError(f"json: cannot unmarshal {json_type_name(value)} into Go value of type {go_type}")


def _number_literal(value: int | float) -> str:
    if isinstance(value, _FloatLiteral):
        return value.literal
    return str(value)


class Kind:
    """One Go field type: decode a JSON value into stored form, encode stored form for output."""

    go_type = "any"

    def decode(self, value: Any, where: str) -> Any:
        raise NotImplementedError

    def encode(self, value: Any) -> Any:
        return value


class BoolKind(Kind):
    go_type = "bool"

    def decode(self, value: Any, where: str) -> Any:
        if not isinstance(value, bool):
            raise type_error(value, self.go_type)
        return value


class StringKind(Kind):
    go_type = "string"

    def decode(self, value: Any, where: str) -> Any:
        if not isinstance(value, str):
            raise type_error(value, self.go_type)
        return value


class IntKind(Kind):
    def __init__(self, go_type: str = "int", unsigned: bool = False) -> None:
        self.go_type = go_type
        self.unsigned = unsigned

    def decode(self, value: Any, where: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise type_error(value, self.go_type)
        if isinstance(value, float) or (self.unsigned and value < 0):
            raise DecodeError(
                f"json: cannot unmarshal number {_number_literal(value)} into Go value of type {self.go_type}"
            )
        return value


class FloatKind(Kind):
    go_type = "float64"

    def decode(self, value: Any, where: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise type_error(value, self.go_type)
        return float(value)

    def encode(self, value: Any) -> Any:
        return go_float(float(value))


class DurationKind(Kind):
    """``conf.Duration``: a string in, nanoseconds stored, normalised string out."""

    go_type = "string"

    def decode(self, value: Any, where: str) -> Any:
        if not isinstance(value, str):
            raise type_error(value, "string")
        try:
            return parse_mtx_duration(value)
        except GoValueError as exc:
            raise DecodeError(str(exc)) from None

    def encode(self, value: Any) -> Any:
        return format_mtx_duration(int(value))


class SizeKind(Kind):
    """``conf.StringSize``: ``"50M"`` in, bytes stored, bytefmt string out."""

    go_type = "string"

    def decode(self, value: Any, where: str) -> Any:
        if not isinstance(value, str):
            raise type_error(value, "string")
        try:
            return parse_byte_size(value)
        except GoValueError as exc:
            raise DecodeError(str(exc)) from None

    def encode(self, value: Any) -> Any:
        return format_byte_size(int(value))


class EnumKind(Kind):
    """A string-based Go type with its own UnmarshalJSON that rejects unknown values."""

    go_type = "string"

    def __init__(self, values: tuple[str, ...], message: Callable[[str], str]) -> None:
        self.values = values
        self.message = message

    def decode(self, value: Any, where: str) -> Any:
        if not isinstance(value, str):
            raise type_error(value, "string")
        if value not in self.values:
            raise DecodeError(self.message(value))
        return value


class ListKind(Kind):
    def __init__(self, item: Kind) -> None:
        self.item = item
        self.go_type = "[]" + item.go_type

    def decode(self, value: Any, where: str) -> Any:
        if not isinstance(value, list):
            raise type_error(value, self.go_type)
        return [self.item.decode(v, f"{where}[{i}]") for i, v in enumerate(value)]

    def encode(self, value: Any) -> Any:
        return [self.item.encode(v) for v in value]


class ObjectKind(Kind):
    """A nested Go struct: unknown keys rejected (with their path), missing keys take zero values."""

    def __init__(self, go_type: str, fields: Mapping[str, tuple[Kind, Any]]) -> None:
        self.go_type = go_type
        self.fields = fields

    def decode(self, value: Any, where: str) -> Any:
        if not isinstance(value, dict):
            raise type_error(value, self.go_type)
        out: dict[str, Any] = {}
        for key in value:
            if key not in self.fields:
                raise DecodeError(
                    f'json: unknown field "{where}.{key}"' if where else f'json: unknown field "{key}"'
                )
        for key, (kind, zero) in self.fields.items():
            raw = value.get(key)
            if raw is None:
                if key in value and isinstance(kind, ListKind):
                    raise DecodeError("cannot set slice to nil")
                out[key] = zero
            else:
                out[key] = kind.decode(raw, f"{where}.{key}" if where else key)
        return out

    def encode(self, value: Any) -> Any:
        return {key: kind.encode(value.get(key, zero)) for key, (kind, zero) in self.fields.items()}


def decode_top_level(body: bytes, fields: Mapping[str, Kind]) -> dict[str, Any]:
    """Decode a request body into ``{field: stored value}``; top-level ``null`` keys are dropped.

    Raises DecodeError with MediaMTX's message for syntax errors, non-object bodies, unknown keys
    and type errors (checked in the order the keys appear, like Go's streaming decoder).
    """
    raw = parse_json(body)
    if not isinstance(raw, dict):
        # MediaMTX first decodes the body into a map of raw values, then field by field
        raise type_error(raw, "map[string]json.RawMessage")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        kind = fields.get(key)
        if kind is None:
            raise DecodeError(f'json: unknown field "{key}"')
        if value is None:
            continue  # every top-level field is optional: null means "not given"
        out[key] = kind.decode(value, key)
    return out
