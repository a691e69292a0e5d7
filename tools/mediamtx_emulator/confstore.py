"""In-memory configuration: global settings, path defaults and path entries (notes §5, §6, §8).

Like MediaMTX with API-made changes, nothing is written anywhere: a new store starts from the
configuration file's defaults and entries (without a file: the stock mediamtx.yml, whose only entry
is ``all_others``). Every mutation is validated against the whole
resulting configuration and applied atomically, or refused with MediaMTX's message and no change.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from tools.mediamtx_emulator.globalconf import GLOBAL_KINDS
from tools.mediamtx_emulator.pathconf import (
    CATCH_ALL_NAMES,
    PATH_INPUT_KINDS,
    STOCK_PATH_DEFAULTS,
    ValidationError,
    check_path_name,
    effective_path_conf,
    path_regexp,
    validate_path_conf,
    validate_path_set,
)
from tools.mediamtx_emulator.strictjson import DecodeError, decode_top_level


class ConfError(Exception):
    """A refused configuration call: HTTP status and MediaMTX's error text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@attrs.frozen
class PathMatch:
    """The configuration entry a path name resolves to."""

    conf_name: str
    conf: Mapping[str, Any]
    groups: tuple[str, ...]  # regexp groups, exposed to hooks as G1, G2, ...


def _decode_path_body(body: bytes) -> dict[str, Any]:
    values = decode_top_level(body, PATH_INPUT_KINDS)
    values.pop("name", None)  # "filled by Validate()": sending it changes nothing
    return values


class ConfigStore:
    """Global settings, path defaults and path overrides, each in decoded (stored) form."""

    def __init__(
        self,
        global_conf: dict[str, Any],
        path_defaults: Mapping[str, Any] | None = None,
        paths: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.global_conf = global_conf
        self.path_defaults: dict[str, Any] = STOCK_PATH_DEFAULTS | dict(path_defaults or {})
        self.path_overrides: dict[str, dict[str, Any]] = (
            {"all_others": {}} if paths is None else {name: dict(conf) for name, conf in paths.items()}
        )
        self._effective = self._build(self.global_conf, self.path_defaults, self.path_overrides)
        self._listeners: list[Callable[[], None]] = []

    # ---- reading

    def effective_paths(self) -> dict[str, dict[str, Any]]:
        """Every entry's effective configuration, by entry name."""
        return dict(self._effective)

    def effective_path(self, name: str) -> dict[str, Any] | None:
        return self._effective.get(name)

    def effective_defaults(self) -> dict[str, Any]:
        return effective_path_conf(self.path_defaults, {}, "")

    def find(self, name: str) -> PathMatch:
        """``conf.FindPathConf``: exact entry first, then regexps by name, catch-alls last."""
        conf = self._effective.get(name)
        if conf is not None:
            return PathMatch(name, conf, ())
        try:
            check_path_name(name)
        except ValidationError as exc:
            raise ConfError(400, f"invalid path name: {exc} ({name})") from None
        regexp_names = sorted(n for n in self._effective if n.startswith("~") or n in CATCH_ALL_NAMES)
        regexp_names.sort(key=lambda n: n in CATCH_ALL_NAMES)
        for conf_name in regexp_names:
            pattern = path_regexp(conf_name)
            assert pattern is not None
            m = pattern.search(name)
            if m:
                return PathMatch(conf_name, self._effective[conf_name], tuple(g or "" for g in m.groups()))
        raise ConfError(400, f"path '{name}' is not configured")

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every applied change."""
        self._listeners.append(listener)

    # ---- writing

    def patch_global(self, body: bytes) -> None:
        values = self._decode(body, GLOBAL_KINDS)
        new_global = dict(self.global_conf) | values
        self._commit(new_global, self.path_defaults, self.path_overrides)

    def patch_path_defaults(self, body: bytes) -> None:
        values = self._decode_path(body)
        self._commit(self.global_conf, self.path_defaults | values, self.path_overrides)

    def add_path(self, name: str, body: bytes) -> None:
        values = self._decode_path(body)
        if name in self.path_overrides:
            raise ConfError(400, "path already exists")
        self._commit(self.global_conf, self.path_defaults, self.path_overrides | {name: values})

    def patch_path(self, name: str, body: bytes) -> None:
        values = self._decode_path(body)
        if name not in self.path_overrides:
            raise ConfError(404, "path not found")
        merged = self.path_overrides[name] | values
        self._commit(self.global_conf, self.path_defaults, self.path_overrides | {name: merged})

    def replace_path(self, name: str, body: bytes) -> None:
        # Upsert: MediaMTX creates a missing entry here (the spec's 404 never happens).
        values = self._decode_path(body)
        self._commit(self.global_conf, self.path_defaults, self.path_overrides | {name: values})

    def delete_path(self, name: str) -> None:
        if name not in self.path_overrides:
            raise ConfError(404, "path not found")
        rest = {k: v for k, v in self.path_overrides.items() if k != name}
        self._commit(self.global_conf, self.path_defaults, rest)

    # ---- internals

    @staticmethod
    def _decode(body: bytes, kinds: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return decode_top_level(body, kinds)
        except DecodeError as exc:  # MediaMTX answers 400 with the decoder's text
            raise ConfError(400, str(exc)) from None

    def _decode_path(self, body: bytes) -> dict[str, Any]:
        try:
            return _decode_path_body(body)
        except DecodeError as exc:
            raise ConfError(400, str(exc)) from None

    @staticmethod
    def _build(
        global_conf: Mapping[str, Any],
        defaults: Mapping[str, Any],
        overrides: Mapping[str, Mapping[str, Any]],
    ) -> dict[str, dict[str, Any]]:
        validate_path_set(list(overrides))
        playback = bool(global_conf.get("playback"))
        effective: dict[str, dict[str, Any]] = {}
        for name in overrides:
            conf = effective_path_conf(defaults, overrides[name], name)
            validate_path_conf(conf, name, playback)
            effective[name] = conf
        return effective

    def _commit(
        self,
        global_conf: dict[str, Any],
        defaults: dict[str, Any],
        overrides: dict[str, dict[str, Any]],
    ) -> None:
        try:
            effective = self._build(global_conf, defaults, overrides)
        except ValidationError as exc:
            raise ConfError(400, str(exc)) from None
        self.global_conf, self.path_defaults, self.path_overrides = global_conf, defaults, overrides
        self._effective = effective
        for listener in list(self._listeners):
            listener()


def paginate(items: list[Any], query: Mapping[str, str]) -> dict[str, Any]:
    """MediaMTX list pagination: ``itemsPerPage`` (default 100) and 0-based ``page``."""
    items_per_page = 100
    raw = query.get("itemsPerPage", "")
    if raw != "":
        items_per_page = _parse_uint(raw)
        if items_per_page == 0:
            raise ConfError(400, "invalid items per page")
    page = 0
    raw = query.get("page", "")
    if raw != "":
        page = _parse_uint(raw)
    count = len(items)
    page_count = -(-count // items_per_page)
    start = page * items_per_page
    return {"itemCount": count, "pageCount": page_count, "items": items[start : start + items_per_page]}


def _parse_uint(raw: str) -> int:
    # strconv.ParseUint(raw, 10, 64) and its messages.
    if not re.fullmatch(r"[0-9]+", raw):
        raise ConfError(400, f'strconv.ParseUint: parsing "{raw}": invalid syntax')
    value = int(raw)
    if value >= 1 << 64:
        raise ConfError(400, f'strconv.ParseUint: parsing "{raw}": value out of range')
    return value
