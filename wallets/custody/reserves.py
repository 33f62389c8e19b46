"""Proof of reserves, the operator's check: what the ledger owes clients per asset against what custody holds
on chain (deposit, hot and cold addresses). Short when liabilities exceed assets.

``on_chain`` asks the nodes: Bitcoin through ``scantxoutset`` over every deposit address, the hot address and
the first ``cold_gap`` receive and change addresses of the cold 2-of-3 descriptor; Ethereum and BSC through
``eth_getBalance`` and the token contracts' ``balanceOf`` for the deposit, hot and cold EVM addresses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from sqlalchemy import Connection, select

from config.custody import CoinNetwork
from wallets import models
from wallets.custody.coins import from_base_units
from wallets.custody.public import PublicWallets

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


class BtcBalances(Protocol):
    async def balances(self, addresses: Sequence[str]) -> dict[str, int]: ...


class EvmBalances(Protocol):
    async def balance(self, network: str, address: str, token: str | None) -> int: ...


async def on_chain(
    coins: Sequence[CoinNetwork],
    public: PublicWallets,
    deposit_addresses: Mapping[str, Sequence[str]],
    btc: BtcBalances | None,
    evm: Mapping[str, EvmBalances],
    *,
    cold_gap: int = 20,
) -> dict[str, dict[str, Decimal]]:
    """asset -> wallet ("deposit", "hot", "cold") -> holdings, summed over the networks whose node is given.
    A token whose contract is not configured is skipped (its balance cannot be read)."""
    held: dict[str, dict[str, Decimal]] = {}

    def add(asset: str, wallet: str, amount: Decimal) -> None:
        per = held.setdefault(asset, {"deposit": ZERO, "hot": ZERO, "cold": ZERO})
        per[wallet] += amount

    for coin in coins:
        deposits = list(deposit_addresses.get(coin.network, ()))
        if coin.network == "BTC":
            if btc is None:
                continue
            cold = [public.cold_address(branch, i) for branch in (0, 1) for i in range(cold_gap)]
            wallets = {"deposit": deposits, "hot": [public.hot_address("BTC")], "cold": cold}
            for wallet, addresses in wallets.items():
                sat = sum((await btc.balances(addresses)).values()) if addresses else 0
                add(coin.coin, wallet, from_base_units(sat, coin.decimals))
            continue
        node = evm.get(coin.network)
        if node is None or (coin.coin != _native(coin.network) and not coin.contract):
            continue
        token = coin.contract
        wallets = {
            "deposit": deposits,
            "hot": [public.hot_address(coin.network)],
            "cold": [public.cold_evm_address] if public.cold_evm_address else [],
        }
        for wallet, addresses in wallets.items():
            units = 0
            for address in addresses:
                units += await node.balance(coin.network, address, token)
            add(coin.coin, wallet, from_base_units(units, coin.decimals))
    return held


def _native(network: str) -> str:
    return {"ETH": "ETH", "BSC": "BNB"}.get(network, network)
