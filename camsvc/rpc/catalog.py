"""The method table the server dispatches: every ``METHODS`` list in ``camsvc/rpc/methods/``.

Modules are collected by name from the package, so a room adds methods by adding
a module (or entries to its module) and nothing here changes. ``rpc.discover``,
``docs/api.md`` and the permission matrix tests all read this same table.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping

from . import methods as methods_pkg
from .table import Method, MethodTable


def method_modules() -> list[str]:
    """Module names under camsvc.rpc.methods, sorted (deterministic table order)."""
    return sorted(m.name for m in pkgutil.iter_modules(methods_pkg.__path__) if not m.name.startswith("_"))


def all_methods() -> list[Method]:
    out: list[Method] = []
    for name in method_modules():
        module = importlib.import_module(f"{methods_pkg.__name__}.{name}")
        methods = getattr(module, "METHODS", None)
        if methods is None:
            raise ImportError(f"camsvc.rpc.methods.{name} defines no METHODS list")
        out.extend(methods)
    return out


def load_table(permissions: Mapping[str, str] | None = None) -> MethodTable:
    """The complete table with ``security.permissions`` overrides applied."""
    table = MethodTable(all_methods())
    return table.with_overrides(dict(permissions or {})) if permissions else table
