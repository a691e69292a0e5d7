"""JWTs: HS256 only, with the claims the contract requires (spec §2).

``alg`` is pinned: a token whose header names any other algorithm (``none``,
HS384, RS256 — the "algorithm confusion" family) is refused before its signature
is even looked at, and PyJWT is also told to accept HS256 alone.
"""

from __future__ import annotations

import time
from typing import Any

import attrs
import jwt

from ..errors import AuthFailed
from .roles import Role

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("role", "iat", "exp")


@attrs.frozen
class TokenClaims:
    user_id: str
    role: Role
    issued_at: float
    expires_at: float


class JwtCodec:
    def __init__(self, secret: bytes, *, leeway: float = 0.0) -> None:
        self._secret = secret
        self._leeway = leeway

    def issue(self, user_id: str, role: Role, ttl: float, *, now: float | None = None) -> tuple[str, float]:
        """A signed token and its expiry (wall clock)."""
        issued = int(time.time() if now is None else now)
        expires = issued + max(1, int(ttl))
        payload = {"user_id": user_id, "sub": user_id, "role": role.label, "iat": issued, "exp": expires}
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM), float(expires)

    def verify(self, token: str) -> TokenClaims:
        """The token's claims, or AuthFailed(invalid_token | token_expired)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthFailed("invalid_token", "malformed token") from None
        if header.get("alg") != ALGORITHM:
            raise AuthFailed("invalid_token", f"algorithm {header.get('alg')!r} is not accepted")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": list(REQUIRED_CLAIMS), "verify_aud": False},
                leeway=self._leeway,
            )
        except jwt.ExpiredSignatureError:
            raise AuthFailed("token_expired", "token expired") from None
        except jwt.PyJWTError as exc:
            raise AuthFailed("invalid_token", f"invalid token: {exc}") from None
        user = claims.get("user_id", claims.get("sub"))
        if not isinstance(user, str) or not user:
            raise AuthFailed("invalid_token", "token has no user_id or sub claim")
        role_text = claims["role"]
        try:
            role = Role.parse(role_text) if isinstance(role_text, str) else None
        except ValueError:
            role = None
        if role is None:
            raise AuthFailed("invalid_token", "token has an unknown role")
        iat, exp = claims["iat"], claims["exp"]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (iat, exp)):
            raise AuthFailed("invalid_token", "iat and exp must be numbers")
        return TokenClaims(user, role, float(iat), float(exp))
