"""The authenticator (``services.auth``): credentials → :class:`Identity`, for RPC and HTTP.

One object owns the secret, the JWT codec, the API key store and the failed-auth
throttle. RPC sessions keep the :class:`Identity` they got here and call
:meth:`Authenticator.check` on every call, so an expired token or a revoked key
stops working mid-session.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from ..config import Config
from ..errors import AuthFailed, RateLimited
from ..storage.state import StateStore
from . import download_tokens
from .api_keys import PREFIX, ApiKeyStore
from .identity import Identity
from .jwt_tokens import JwtCodec
from .roles import Role
from .secret import load_secret
from .throttle import AuthThrottle


class Authenticator:
    def __init__(self, config: Config, store: StateStore, *, secret: bytes | None = None) -> None:
        self.config = config
        self._secret = secret if secret is not None else load_secret(config)
        self.jwt = JwtCodec(self._secret)
        self.keys = ApiKeyStore(store)
        self.throttle = AuthThrottle(config.security.auth_failure_limit, config.security.auth_failure_window)
        #: wall clock for session re-checks (tests move it forward instead of sleeping)
        self.clock: Callable[[], float] = time.time

    # ------------------------------------------------------------ credentials

    def identify(self, credential: str) -> Identity:
        """A fresh identity for a JWT or an API key, or AuthFailed with its reason."""
        if not isinstance(credential, str) or not credential:
            raise AuthFailed("invalid_token", "empty credential")
        session = uuid.uuid4().hex
        if credential.startswith(PREFIX):
            key = self.keys.lookup(credential)
            return Identity(
                user_id=key.name or f"key:{key.key_id}",
                role=key.role,
                method="api_key",
                session_id=session,
                expires_at=key.expires_at,
                key_id=key.key_id,
            )
        claims = self.jwt.verify(credential)
        return Identity(claims.user_id, claims.role, "jwt", session, claims.expires_at)

    def identify_throttled(self, credential: str, address: str) -> Identity:
        """:meth:`identify` under the per-address failure throttle.

        A valid credential is accepted even while ``address`` is throttled; a failure then
        gets -32040 (RateLimited) instead of -32001. Why (shared NATs): throttle.py.
        """
        try:
            return self.identify(credential)
        except AuthFailed:
            wait = self.throttle.retry_after(address)
            self.throttle.failed(address)
            if wait > 0:
                raise RateLimited(int(wait * 1000) + 1, reason="too_many_auth_failures") from None
            raise

    async def authenticate_credential(self, token_or_key: str, address: str | None = None) -> Identity:
        """For HTTP routes (``Authorization: Bearer``, ``X-API-Key``): raises AuthFailed with a reason.

        With the client's ``address`` it shares the RPC throttle, so failures over HTTP are
        throttled exactly like failures over the WebSocket (RateLimited while throttled).
        """
        if address is None:
            return self.identify(token_or_key)
        return self.identify_throttled(token_or_key, address)

    def check(self, identity: Identity, *, now: float | None = None) -> None:
        """Re-check a live session: expiry for both kinds, revocation for API keys."""
        now = self.clock() if now is None else now
        if identity.key_id is not None:
            self.keys.check(identity.key_id, now=now)
        if identity.expires_at is not None and now >= identity.expires_at:
            raise AuthFailed("token_expired", "session expired")

    # ------------------------------------------------------------------ tokens

    def issue_token(self, user_id: str, role: Role, ttl: float | None = None) -> tuple[str, float]:
        """A JWT (HS256) and its expiry; ``ttl`` defaults to ``security.jwt_expiry``."""
        return self.jwt.issue(user_id, role, self.config.security.jwt_expiry if ttl is None else ttl)

    def sign_download(self, file_type: str, filename: str, expires_in: float) -> tuple[str, float]:
        return download_tokens.sign(self._secret, file_type, filename, expires_in)

    def verify_download(self, token: str, file_type: str, filename: str) -> bool:
        return download_tokens.verify(self._secret, token, file_type, filename)
