"""``camsvc token create`` and ``camsvc keys create|list|revoke|rotate``.

They work on the same state directory as the service (from the config file);
a key made or revoked here takes effect in a running service at once (api_keys.py).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from typing import Any

from .. import config as config_mod
from ..storage.state import StateStore
from .roles import Role

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> float:
    """``3600``, ``90s``, ``30m``, ``24h``, ``7d`` → seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}; use e.g. 3600, 30m, 24h or 7d")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def _role(text: str) -> Role:
    try:
        return Role.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _with_store(args: argparse.Namespace, fn: Callable[[Any, Any], int]) -> int:
    from pathlib import Path

    from .auth import Authenticator

    cfg = args.load_config(args.config)
    if cfg is None:
        return 2
    cfg = config_mod.with_absolute_paths(cfg)
    store = StateStore(Path(cfg.storage.state_dir) / "camsvc.db")
    try:
        store.open()
        auth = Authenticator(cfg, store)
        return fn(cfg, auth)
    except (OSError, ValueError) as exc:
        print(f"camsvc: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()


def cmd_token_create(args: argparse.Namespace) -> int:
    def run(cfg: Any, auth: Any) -> int:
        token, expires = auth.issue_token(args.user, args.role, args.ttl)
        print(token)
        return 0

    return _with_store(args, run)


def cmd_keys(args: argparse.Namespace) -> int:
    def run(cfg: Any, auth: Any) -> int:
        keys = auth.keys
        if args.keys_command == "create":
            key, record = keys.create_sync(args.role, args.name or "", args.ttl)
            print(key)  # shown once: only its hash is stored
            print(f"key_id {record.key_id} role {record.role.label}", file=sys.stderr)
            return 0
        if args.keys_command == "list":
            for record in keys.keys():
                print(json.dumps(record.public()))
            return 0
        if keys.get(args.key_id) is None:
            print(f"camsvc: no API key with id {args.key_id!r} (see `camsvc keys list`)", file=sys.stderr)
            return 1
        if args.keys_command == "revoke":
            changed = keys.revoke_sync(args.key_id)
            print(f"{args.key_id}: {'revoked' if changed else 'was already revoked'}", file=sys.stderr)
            return 0
        key, record = keys.rotate_sync(args.key_id)
        print(key)
        print(f"key_id {record.key_id} replaces {args.key_id} (revoked)", file=sys.stderr)
        return 0

    return _with_store(args, run)


def add_security_commands(
    sub: Any, config_help: str, load_config: Callable[[str | None], config_mod.Config | None]
) -> None:
    """Add ``token`` and ``keys``; ``load_config(--config)`` is the CLI's loader (None: it reported why)."""
    token = sub.add_parser("token", help="issue JWTs").add_subparsers(dest="token_command", required=True)
    create = token.add_parser("create", help="print a JWT signed with the service's secret")
    create.add_argument("--role", type=_role, required=True, help="viewer, operator or admin")
    create.add_argument("--user", default="cli", help="user_id claim (default: cli)")
    create.add_argument("--ttl", type=parse_ttl, default=None, help="lifetime, e.g. 24h (default: security.jwt_expiry)")
    create.add_argument("--config", help=config_help)
    create.set_defaults(func=cmd_token_create, load_config=load_config)

    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command", required=True)
    kc = keys.add_parser("create", help="create a key and print it (once)")
    kc.add_argument("--role", type=_role, required=True)
    kc.add_argument("--name", help="what the key is for (shown as user_id)")
    kc.add_argument("--ttl", type=parse_ttl, default=None, help="expire after this long (default: never)")
    kl = keys.add_parser("list", help="list keys (ids, roles, expiry, revocation; never the keys)")
    kr = keys.add_parser("revoke", help="revoke a key by id")
    kr.add_argument("key_id")
    kt = keys.add_parser("rotate", help="revoke a key and print a new one with the same role and name")
    kt.add_argument("key_id")
    for p in (kc, kl, kr, kt):
        p.add_argument("--config", help=config_help)
        p.set_defaults(func=cmd_keys, load_config=load_config)
