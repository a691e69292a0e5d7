"""Checking named params against a method's :class:`Param` list (spec §1).

Known params are strictly checked (type, range, pattern, enum, length) and
reported as ``-32602`` naming the param; aliases are mapped to the canonical
name; defaults are filled in; unknown params are dropped. A ``null`` value counts
as absent (older clients send ``"filename": null`` for "not given").
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from ..errors import InvalidParams
from .table import Method, Param

_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def _fail(param: str, reason: str, message: str) -> InvalidParams:
    return InvalidParams(param, reason, f"invalid parameter {param!r}: {message}")


def _checker(p: Param) -> Callable[[Any], Any]:
    """One param's check, built once per method (dispatch is a hot path)."""
    types = p.type if isinstance(p.type, tuple) else (p.type,)
    type_checks = [_TYPE_CHECKS[t] for t in types]
    pattern = re.compile(p.pattern) if p.pattern is not None else None
    item_check = _TYPE_CHECKS[p.items] if p.items is not None else None
    expected = " or ".join(types)
    # JSON has one number type: 3.0 is the integer 3 (JSON Schema agrees), whatever the client's encoder wrote.
    integral_floats = "integer" in types

    def check(value: Any) -> Any:
        if integral_floats and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not any(c(value) for c in type_checks):
            raise _fail(p.name, "wrong_type", f"expected {expected}, got {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            raise _fail(p.name, "not_finite", "must be a finite number")
        if isinstance(value, int | float) and not isinstance(value, bool):
            if p.minimum is not None and value < p.minimum:
                raise _fail(p.name, "out_of_range", f"must be >= {p.minimum:g}")
            if p.maximum is not None and value > p.maximum:
                raise _fail(p.name, "out_of_range", f"must be <= {p.maximum:g}")
            if p.exclusive_minimum is not None and value <= p.exclusive_minimum:
                raise _fail(p.name, "out_of_range", f"must be > {p.exclusive_minimum:g}")
        if isinstance(value, str):
            if p.max_length is not None and len(value) > p.max_length:
                raise _fail(p.name, "too_long", f"must be at most {p.max_length} characters")
            if pattern is not None and not pattern.fullmatch(value):
                raise _fail(p.name, "pattern_mismatch", f"must match {p.pattern}")
        if p.enum is not None and value not in p.enum:
            raise _fail(p.name, "not_allowed", "must be one of " + ", ".join(map(str, p.enum)))
        if item_check is not None and not all(item_check(v) for v in value):
            raise _fail(p.name, "wrong_type", f"items must be {p.items}")
        return value

    return check


class ParamChecker:
    """The compiled param rules of one method."""

    def __init__(self, method: Method) -> None:
        self._rules = [(p, (p.name, *p.aliases), _checker(p)) for p in method.params]

    def __call__(self, params: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for p, names, check in self._rules:
            value = None
            for name in names:
                value = params.get(name)
                if value is not None:
                    break
            if value is None:
                if p.required:
                    raise _fail(p.name, "missing", "is required")
                if p.has_default:
                    out[p.name] = p.default
                continue
            out[p.name] = check(value)
        return out
