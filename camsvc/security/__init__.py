"""Identity and access: roles, JWTs, API keys, signed download tokens (used by RPC and HTTP)."""
