"""The approval hook: M-of-N operator approvals where the requester never approves.

``ApprovalHook`` is what the treasury asks; ``TableApprovals`` keeps approvals in ``treasury_approvals``. The
client withdrawal flow's approval queue can stand in for it by offering the same two methods, so a broker
has one place where operators approve money leaving (subjects are namespaced: ``treasury:<id>``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from compliance.operators import SeparationOfDuties, check_not_requester
from domain import now_ms
from treasury.models import approvals
from wallets.errors import WalletError


class ApprovalRefused(WalletError):
    """The approval does not count: the requester approving their own request, or an actor approving twice."""


class ApprovalHook(Protocol):
    def approve(self, subject: str, requester: str, actor: str) -> int:
        """Record ``actor``'s approval of ``subject``; the number of distinct approvals it now has.

        Raises ``ApprovalRefused`` (and records nothing) if ``actor`` is ``requester`` or already approved.
        """
        ...

    def approvers(self, subject: str) -> list[str]:
        """Who approved ``subject``, in order."""
        ...


class TableApprovals:
    """``ApprovalHook`` on the ``treasury_approvals`` table; the unique (subject, actor) index is the backstop."""

    def __init__(self, engine: Engine, clock_ms: Callable[[], int] = now_ms) -> None:
        self.engine = engine
        self.clock_ms = clock_ms

    def approve(self, subject: str, requester: str, actor: str) -> int:
        actor = actor.strip()
        if not actor:
            raise ApprovalRefused("an approval needs the approving operator's name")
        try:
            check_not_requester(requester, actor)  # the back office's two-person rule (names compare case-blind)
        except SeparationOfDuties as exc:
            raise ApprovalRefused(f"{exc} ({subject})") from None
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(approvals).values(subject=subject, actor=actor, created=self.clock_ms()))
        except IntegrityError:
            raise ApprovalRefused(f"{actor} already approved {subject}") from None
        return len(self.approvers(subject))

    def approvers(self, subject: str) -> list[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(approvals.c.actor).where(approvals.c.subject == subject).order_by(approvals.c.id)
            )
            return [str(r.actor) for r in rows]
