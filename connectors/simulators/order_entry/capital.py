"""Deposits and withdrawals behind each fake venue: deposit addresses, withdrawals that debit the account,
and deposits credited by a test hook. Pure, no I/O; each fake server renders it in its venue's shapes.

A withdrawal leaves the account at once (amount debited; the fee comes out of the amount, so the
destination receives ``amount - fee``) and completes with a made-up transaction hash. A client withdrawal
id, where the venue has one, is unique forever: a second withdrawal with it is refused.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from decimal import Decimal

from embit.bech32 import Encoding, bech32_encode, convertbits

from connectors.simulators.order_entry.matching import MatchingEngine, Reject

ZERO = Decimal(0)


@dataclass
class SimWithdrawal:
    withdrawal_id: int
    client_id: str  # "" when the client gave none
    asset: str  # the venue's asset spelling
    network: str
    address: str
    amount: Decimal  # debited from the account
    fee: Decimal  # kept by the venue, out of amount
    created_ms: int
    tx_id: str
    status: str = "completed"  # completed | processing


@dataclass
class SimDeposit:
    deposit_id: int
    asset: str
    network: str
    address: str
    amount: Decimal
    tx_id: str
    created_ms: int


@dataclass
class VenueWallet:
    """The capital side of one fake venue account, over the matching engine's balances."""

    engine: MatchingEngine
    venue: str
    btc_hrp: str = "bcrt"  # which Bitcoin network the venue's BTC deposit addresses are on
    fees: dict[str, Decimal] = field(default_factory=dict)  # asset -> withdrawal fee
    withdraw_keys: dict[str, str] = field(default_factory=dict)  # Kraken: key name -> address
    withdrawals: list[SimWithdrawal] = field(default_factory=list)
    deposits: list[SimDeposit] = field(default_factory=list)
    withdraw_requests: int = 0  # every withdrawal attempt that reached the wallet, accepted or not
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(7001))

    def deposit_address(self, asset: str, network: str) -> str:
        """The account's stable deposit address for ``asset`` on ``network`` (valid for the network)."""
        digest = hashlib.sha256(f"{self.venue}|{network.upper()}".encode()).digest()[:20]
        if network.upper() == "BTC":
            words = convertbits(digest, 8, 5)
            assert words is not None
            return str(bech32_encode(Encoding.BECH32, self.btc_hrp, [0, *words]))
        return "0x" + digest.hex()  # EVM, all lower case: a valid address without an EIP-55 checksum

    def fee(self, asset: str) -> Decimal:
        return self.fees.get(asset, ZERO)

    def withdraw(self, asset: str, network: str, address: str, amount: Decimal, client_id: str = "") -> SimWithdrawal:
        self.withdraw_requests += 1
        if amount <= 0 or amount <= self.fee(asset):
            raise Reject("bad_qty", f"amount {amount} not above the fee {self.fee(asset)}")
        if client_id and any(w.client_id == client_id for w in self.withdrawals):
            raise Reject("duplicate", client_id)
        free = self.engine.free.get(asset, ZERO)
        if free < amount:
            raise Reject("insufficient_funds", f"{asset} free {free} < {amount}")
        self.engine.free[asset] = free - amount
        n = next(self._ids)
        tx = hashlib.sha256(f"{self.venue}|w|{n}".encode()).hexdigest()
        found = SimWithdrawal(
            n, client_id, asset, network.upper(), address, amount, self.fee(asset), self.engine.clock_ms(), tx
        )
        self.withdrawals.append(found)
        return found

    def credit_deposit(self, asset: str, network: str, amount: Decimal, tx_id: str | None = None) -> SimDeposit:
        """Test hook: a deposit to the account's address arrived and is credited."""
        n = next(self._ids)
        deposit = SimDeposit(
            n,
            asset,
            network.upper(),
            self.deposit_address(asset, network),
            amount,
            tx_id or hashlib.sha256(f"{self.venue}|d|{n}".encode()).hexdigest(),
            self.engine.clock_ms(),
        )
        self.engine.free[asset] = self.engine.free.get(asset, ZERO) + amount
        self.deposits.append(deposit)
        return deposit

    def by_client_id(self, client_id: str) -> SimWithdrawal | None:
        return next((w for w in self.withdrawals if client_id and w.client_id == client_id), None)
