"""What a receiver hands each message to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Taker(Protocol):
    async def known(self, keys: Sequence[str]) -> set[str]:
        """Which of these receipt keys are already recorded (taken once, whatever became
        of them): a receiver skips them, and only marks them done where it keeps mail."""
        ...

    async def take(self, raw: bytes, key: str, recipients: Sequence[str] = ()) -> None:
        """Read one message and act on it, recording ``key`` in the same transaction as
        the effect. Bad mail is recorded with why, never raised; raising means the desk
        could not record it now (the database is away) and the receiver tries again."""
        ...

    async def take_oversize(self, key: str, header: bytes, size: int) -> None:
        """A message over ``mail_max_bytes``, recorded from its header alone."""
        ...
