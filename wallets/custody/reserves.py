"""Proof of reserves, the operator's check: what the ledger owes clients per asset against what custody holds
on chain (deposit, hot and cold addresses). Short when liabilities exceed assets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection, select

from wallets import models

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Reserve:
    asset: str
    liabilities: Decimal  # client and broker balances, free + locked
    on_chain: dict[str, Decimal]  # "deposit", "hot", "cold" -> holdings

    @property
    def assets(self) -> Decimal:
        return sum(self.on_chain.values(), ZERO)

    @property
    def short(self) -> bool:
        return self.liabilities > self.assets


def liabilities(conn: Connection) -> dict[str, Decimal]:
    """Per asset, the sum of every client and broker balance (system accounts are the other side)."""
    kinds = {
        int(r.account_id): r.kind for r in conn.execute(select(models.accounts.c.account_id, models.accounts.c.kind))
    }
    out: dict[str, Decimal] = {}
    for r in conn.execute(select(models.balances)):
        if kinds.get(int(r.account_id)) != "system":
            out[r.asset] = out.get(r.asset, ZERO) + r.free + r.locked
    return out


def reserves(owed: Mapping[str, Decimal], held: Mapping[str, Mapping[str, Decimal]]) -> list[Reserve]:
    """One line per asset owed or held: ``held`` is asset -> wallet ("deposit", "hot", "cold") -> amount."""
    return [
        Reserve(a, owed.get(a, ZERO), {k: Decimal(v) for k, v in held.get(a, {}).items()})
        for a in sorted(set(owed) | set(held))
    ]
