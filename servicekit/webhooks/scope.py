"""Who a caller may see: one owner's webhooks, or (operators) every owner's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import true


@dataclass(frozen=True, slots=True)
class OwnerScope:
    """The owner a caller is bound to; ``owner_id=None`` means every owner (operators only).

    Build with :meth:`owner` or :meth:`everyone` so "all owners" is never an accident.
    """

    owner_id: str | None

    @classmethod
    def owner(cls, owner_id: str) -> OwnerScope:
        """The scope of one owner (e.g. a partner key's network)."""
        if not owner_id:
            raise ValueError("an owner scope needs an owner id")
        return cls(owner_id=owner_id)

    @classmethod
    def everyone(cls) -> OwnerScope:
        """Every owner (admin and ops)."""
        return cls(owner_id=None)

    @property
    def unrestricted(self) -> bool:
        """Whether this scope sees every owner."""
        return self.owner_id is None

    def where(self, owner_column: Any) -> Any:
        """A SQL condition limiting ``owner_column`` to this scope (``True`` when unrestricted)."""
        return true() if self.owner_id is None else owner_column == self.owner_id

    def admits(self, owner_id: str) -> bool:
        """Whether a row of ``owner_id`` is visible in this scope."""
        return self.owner_id is None or self.owner_id == owner_id
