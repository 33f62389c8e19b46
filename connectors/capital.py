"""The funding face of a venue account the treasury uses: deposit addresses, withdrawals and their history.

Each venue's implementation (``connectors.<venue>.capital``) rides on that venue's trading adapter, so one
signed ccxt client (and, for Kraken, one nonce sequence) serves both. Amounts are exact ``Decimal``; asset
names canonical (``BTC``); networks are custody's (``BTC``, ``ETH``, ``BSC``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True)
class VenueWithdrawal:
    venue_ref: str  # the venue's own withdrawal id (Binance id, Kraken refid, HTX id)
    client_id: str  # ours, where the venue keeps one; "" otherwise
    asset: str
    amount: Decimal  # debited from the venue account: what arrives plus the fee
    fee: Decimal
    address: str
    tx_id: str
    status: str  # pending | completed | failed
    time_ms: int


class VenueCapital(Protocol):
    venue: str
    supports_client_id: bool  # True: a withdrawal carries our id and the venue refuses it twice

    async def deposit_address(self, asset: str, network: str) -> str: ...

    async def withdraw(self, asset: str, network: str, amount: Decimal, address: str, client_id: str) -> str:
        """Ask the venue to send ``amount`` (fee included) to ``address``; the venue's withdrawal id."""
        ...

    async def withdrawals(self, asset: str) -> list[VenueWithdrawal]:
        """Recent withdrawals of ``asset``, newest first."""
        ...
