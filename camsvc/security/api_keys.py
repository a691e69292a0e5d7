"""API keys: ``csk_`` + 43 url-safe characters, stored only as SHA-256 hashes.

Rows live in the state store (table ``api_keys``, room ``security``); the service
keeps an in-memory copy so that checking a key, and re-checking its revocation on
every call, costs a dict lookup. The copy is updated by this store's own writes at
once, and by other processes' writes (``camsvc keys revoke`` while the service
runs) through :meth:`ApiKeyStore.refresh_if_changed`, which the monitors actor calls
every second (SQLite's ``data_version`` makes the no-change case one cheap query).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import time
import types
from collections.abc import Callable, Mapping
from typing import TypeVar

import attrs

from ..errors import AuthFailed
from ..storage.state import StateStore
from .roles import Role

T = TypeVar("T")

PREFIX = "csk_"
KEY_PATTERN = re.compile(r"csk_[A-Za-z0-9_-]{43}")

SCHEMA = [
    """
    CREATE TABLE api_keys (
        key_id TEXT PRIMARY KEY,
        hash TEXT NOT NULL,
        role TEXT NOT NULL,
        name TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL,
        revoked_at REAL
    )
    """
]


@attrs.frozen
class ApiKey:
    """One stored key (never the key itself)."""

    key_id: str
    hash: str = attrs.field(repr=False)
    role: Role
    name: str
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None

    def public(self) -> dict[str, object]:
        return {
            "key_id": self.key_id,
            "name": self.name,
            "role": self.role.label,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked": self.revoked_at is not None,
        }


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_of(key: str) -> str:
    """The public id of a key: a prefix of its hash (safe to show and log)."""
    return _digest(key)[:16]


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)  # 32 bytes → exactly 43 url-safe characters


def _row(row: sqlite3.Row) -> ApiKey:
    return ApiKey(
        key_id=row["key_id"],
        hash=row["hash"],
        role=Role.parse(row["role"]),
        name=row["name"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )


class ApiKeyStore:
    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._keys: Mapping[str, ApiKey] = types.MappingProxyType({})
        self._data_version: int | None = None
        store.ensure_schema("security", SCHEMA)
        self._keys = self._store.run_sync(self._load)

    # ------------------------------------------------------------- reading

    def _load(self, conn: sqlite3.Connection) -> Mapping[str, ApiKey]:
        self._data_version = conn.execute("PRAGMA data_version").fetchone()[0]
        return types.MappingProxyType({r["key_id"]: _row(r) for r in conn.execute("SELECT * FROM api_keys")})

    def keys(self) -> list[ApiKey]:
        return sorted(self._keys.values(), key=lambda k: k.created_at)

    def get(self, key_id: str) -> ApiKey | None:
        return self._keys.get(key_id)

    async def refresh_if_changed(self) -> bool:
        """Reload when another process changed the database; True when it did."""

        def check(conn: sqlite3.Connection) -> Mapping[str, ApiKey] | None:
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if version == self._data_version:
                return None
            return self._load(conn)

        fresh = await self._store.run(check)
        if fresh is not None:
            self._keys = fresh
            return True
        return False

    def lookup(self, key: str, *, now: float | None = None) -> ApiKey:
        """The stored key for ``key``, or AuthFailed(unknown_key | revoked_key | token_expired)."""
        if not KEY_PATTERN.fullmatch(key):
            raise AuthFailed("invalid_token", "not an API key")
        digest = _digest(key)
        record = self._keys.get(digest[:16])
        # The id narrows the search; the full hash is then compared in constant time.
        if record is None or not hmac.compare_digest(record.hash, digest):
            raise AuthFailed("unknown_key", "unknown API key")
        self.check(record.key_id, now=now)
        return record

    def check(self, key_id: str, *, now: float | None = None) -> None:
        """Re-check a key of a live session: still present, not revoked, not expired."""
        record = self._keys.get(key_id)
        if record is None:
            raise AuthFailed("unknown_key", "API key no longer exists")
        if record.revoked_at is not None:
            raise AuthFailed("revoked_key", "API key revoked")
        if record.expires_at is not None and (time.time() if now is None else now) >= record.expires_at:
            raise AuthFailed("token_expired", "API key expired")

    # ------------------------------------------------------------- writing
    # Each write has a synchronous form (CLI, start-up) and an async one (service).

    def _create(self, conn: sqlite3.Connection, role: Role, name: str, ttl: float | None) -> tuple[str, ApiKey]:
        key = new_key()
        now = time.time()
        record = ApiKey(key_id_of(key), _digest(key), role, name, now, now + ttl if ttl else None)
        conn.execute(
            "INSERT INTO api_keys(key_id, hash, role, name, created_at, expires_at) VALUES(?,?,?,?,?,?)",
            (record.key_id, record.hash, role.label, name, record.created_at, record.expires_at),
        )
        return key, record

    def _revoke(self, conn: sqlite3.Connection, key_id: str) -> bool:
        changed = conn.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL", (time.time(), key_id)
        ).rowcount
        return changed > 0

    def _rotate(self, conn: sqlite3.Connection, key_id: str) -> tuple[str, ApiKey]:
        row = conn.execute("SELECT * FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
        if row is None:
            raise KeyError(key_id)
        old = _row(row)
        ttl = (old.expires_at - old.created_at) if old.expires_at is not None else None
        self._revoke(conn, key_id)
        return self._create(conn, old.role, old.name, ttl)

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> Callable[[sqlite3.Connection], T]:
        """``fn`` in the write transaction, followed by a reload of the in-memory copy."""

        def run(conn: sqlite3.Connection) -> T:
            result = fn(conn)
            self._keys = self._load(conn)
            return result

        return run

    def create_sync(self, role: Role, name: str = "", ttl: float | None = None) -> tuple[str, ApiKey]:
        """A new key (shown once, never stored) and its record."""
        return self._store.run_sync(self._write(lambda c: self._create(c, role, name, ttl)))

    def revoke_sync(self, key_id: str) -> bool:
        return self._store.run_sync(self._write(lambda c: self._revoke(c, key_id)))

    def rotate_sync(self, key_id: str) -> tuple[str, ApiKey]:
        """Revoke ``key_id`` and create a key with the same role, name and lifetime."""
        return self._store.run_sync(self._write(lambda c: self._rotate(c, key_id)))

    async def create(self, role: Role, name: str = "", ttl: float | None = None) -> tuple[str, ApiKey]:
        return await self._store.run(self._write(lambda c: self._create(c, role, name, ttl)))

    async def revoke(self, key_id: str) -> bool:
        return await self._store.run(self._write(lambda c: self._revoke(c, key_id)))

    async def rotate(self, key_id: str) -> tuple[str, ApiKey]:
        return await self._store.run(self._write(lambda c: self._rotate(c, key_id)))
