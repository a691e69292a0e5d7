"""The configuration file MediaMTX is started with (``mediamtx PATH.yml``), read as MediaMTX reads it.

Global keys, ``pathDefaults`` and ``paths`` are decoded with the same field tables as the API (so an
unknown key or a wrong type refuses to start, as MediaMTX does); keys absent from the file keep
MediaMTX's built-in defaults. ``paths`` holds exactly the entries the file lists: ``all_others``
exists only when it is configured there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import yaml

from tools.mediamtx_emulator.globalconf import GLOBAL_KINDS
from tools.mediamtx_emulator.pathconf import PATH_INPUT_KINDS
from tools.mediamtx_emulator.strictjson import DecodeError, decode_top_level


class ConfFileError(Exception):
    """The file cannot be used: MediaMTX would exit at start with this message."""


@attrs.frozen
class ConfFile:
    global_values: dict[str, Any]
    path_defaults: dict[str, Any]
    paths: dict[str, dict[str, Any]]


def load_conf_file(path: Path) -> ConfFile:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfFileError(f"{path}: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfFileError(f"{path}: the configuration is not a map")
    raw = dict(raw)
    paths = raw.pop("paths", None) or {}
    defaults = raw.pop("pathDefaults", None) or {}
    if not isinstance(paths, dict):
        raise ConfFileError(f"{path}: paths is not a map")
    try:
        global_values = _decode(raw, GLOBAL_KINDS)
        path_defaults = _decode(defaults, PATH_INPUT_KINDS)
        entries = {str(name): _decode(conf or {}, PATH_INPUT_KINDS) for name, conf in paths.items()}
    except DecodeError as exc:
        raise ConfFileError(f"{path}: {exc}") from None
    path_defaults.pop("name", None)
    for conf in entries.values():
        conf.pop("name", None)
    return ConfFile(global_values, path_defaults, entries)


def _decode(values: Any, kinds: dict[str, Any]) -> dict[str, Any]:
    # YAML scalars are JSON's (booleans, numbers, strings): one decoder for file and API
    return decode_top_level(json.dumps(values, default=str).encode(), kinds)
