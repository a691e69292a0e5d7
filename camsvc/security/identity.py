"""Who is calling: the value the authenticator produces and RPC sessions and HTTP routes carry.

It lives in the security room (below rpc and http) so both can reach it.
"""

from __future__ import annotations

import attrs

from .roles import Role


@attrs.frozen
class Identity:
    """Who is calling on an authenticated connection."""

    user_id: str
    role: Role
    #: "jwt" or "api_key"
    method: str
    session_id: str
    #: wall-clock expiry, None = never
    expires_at: float | None = None
    #: API key id, to re-check revocation on every call
    key_id: str | None = None
