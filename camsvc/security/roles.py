"""Roles are hierarchical: viewer < operator < admin."""

from __future__ import annotations

import enum


class Role(enum.IntEnum):
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.upper()]
        except KeyError:
            raise ValueError(f"unknown role {text!r}; expected viewer, operator or admin") from None

    def permissions(self) -> list[str]:
        """The contract's permission words for this role."""
        return ["view", "control", "admin"][: int(self)]

    def allows(self, required: Role) -> bool:
        return self >= required
