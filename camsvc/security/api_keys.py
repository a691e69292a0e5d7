"""API keys: ``csk_`` + 43 url-safe characters, stored only as SHA-256 hashes.

Rows live in the state store (table ``api_keys``, room ``security``); the service
keeps an in-memory copy so that checking a key, and re-checking its revocation on
every call, costs a dict lookup. Changes take effect at once, also when another
process made them (``camsvc keys create`` / ``revoke`` while the service runs):
every use of a key (:meth:`ApiKeyStore.lookup`, :meth:`ApiKeyStore.check`) first
asks SQLite whether the database changed since the copy was loaded (``PRAGMA
data_version``, a few microseconds) and reloads the copy when it did.

That question is asked on the calling thread, the event loop, unlike every other
state-store access, so that the per-call check stays synchronous and cheap. It uses
a connection of its own that only reads, with no busy timeout: in WAL mode a reader
never waits for a writer, and the version comes from the shared-memory index, not
the disk. Should SQLite still answer "busy", the copy is used as it is until the
next use. Every read of the copy goes through that check, so there is one way the
copy changes, and a reload can never put back rows older than what was seen.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import sqlite3
import time
import types
from collections.abc import Mapping

import attrs

from ..errors import AuthFailed
from ..storage.state import StateStore, fetch_one
from .roles import Role

log = logging.getLogger("camsvc.security.api_keys")

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


def _usable(record: ApiKey, now: float | None) -> None:
    """AuthFailed(revoked_key | token_expired) unless ``record`` may be used ``now``."""
    if record.revoked_at is not None:
        raise AuthFailed("revoked_key", "API key revoked")
    if record.expires_at is not None and (time.time() if now is None else now) >= record.expires_at:
        raise AuthFailed("token_expired", "API key expired")


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
        store.ensure_schema("security", SCHEMA)
        #: the reading connection behind :meth:`_fresh` (see the module docstring)
        self._watch = sqlite3.connect(store.path, timeout=0, isolation_level=None, check_same_thread=False)
        self._watch.row_factory = sqlite3.Row
        #: the watch connection's data_version when the copy was loaded (None: not yet)
        self._watch_version: int | None = None
        self._fresh()

    def close(self) -> None:
        self._watch.close()

    # ------------------------------------------------------------- reading

    def _fresh(self) -> Mapping[str, ApiKey]:
        """The in-memory copy, reloaded first when the database changed since it was loaded."""
        try:
            version = int(fetch_one(self._watch, "PRAGMA data_version")[0])
            if version != self._watch_version:
                # The version is read before the rows: a change after it is seen next time.
                self._keys = types.MappingProxyType(
                    {r["key_id"]: _row(r) for r in self._watch.execute("SELECT * FROM api_keys")}
                )
                self._watch_version = version
        except sqlite3.Error as exc:
            log.warning("API key store busy; using the copy in memory", extra={"error": str(exc)})
        return self._keys

    def keys(self) -> list[ApiKey]:
        return sorted(self._fresh().values(), key=lambda k: k.created_at)

    def get(self, key_id: str) -> ApiKey | None:
        return self._fresh().get(key_id)

    def lookup(self, key: str, *, now: float | None = None) -> ApiKey:
        """The stored key for ``key``, or AuthFailed(unknown_key | revoked_key | token_expired)."""
        if not KEY_PATTERN.fullmatch(key):
            raise AuthFailed("invalid_token", "not an API key")
        digest = _digest(key)
        record = self._fresh().get(digest[:16])
        # The id narrows the search; the full hash is then compared in constant time.
        if record is None or not hmac.compare_digest(record.hash, digest):
            raise AuthFailed("unknown_key", "unknown API key")
        _usable(record, now)
        return record

    def check(self, key_id: str, *, now: float | None = None) -> None:
        """Re-check a key of a live session: still present, not revoked, not expired."""
        record = self._fresh().get(key_id)
        if record is None:
            raise AuthFailed("unknown_key", "API key no longer exists")
        _usable(record, now)

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
        row = fetch_one(conn, "SELECT * FROM api_keys WHERE key_id = ?", (key_id,))
        if row is None:
            raise KeyError(key_id)
        old = _row(row)
        ttl = (old.expires_at - old.created_at) if old.expires_at is not None else None
        self._revoke(conn, key_id)
        return self._create(conn, old.role, old.name, ttl)

    # The copy in memory learns of these writes like of any other process's (see _fresh).

    def create_sync(self, role: Role, name: str = "", ttl: float | None = None) -> tuple[str, ApiKey]:
        """A new key (shown once, never stored) and its record."""
        return self._store.run_sync(lambda c: self._create(c, role, name, ttl))

    def revoke_sync(self, key_id: str) -> bool:
        return self._store.run_sync(lambda c: self._revoke(c, key_id))

    def rotate_sync(self, key_id: str) -> tuple[str, ApiKey]:
        """Revoke ``key_id`` and create a key with the same role, name and lifetime."""
        return self._store.run_sync(lambda c: self._rotate(c, key_id))

    async def create(self, role: Role, name: str = "", ttl: float | None = None) -> tuple[str, ApiKey]:
        return await self._store.run(lambda c: self._create(c, role, name, ttl))

    async def revoke(self, key_id: str) -> bool:
        return await self._store.run(lambda c: self._revoke(c, key_id))

    async def rotate(self, key_id: str) -> tuple[str, ApiKey]:
        return await self._store.run(lambda c: self._rotate(c, key_id))
