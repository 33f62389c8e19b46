"""Binance funding through the SAPI capital endpoints (deposit address, withdraw/apply, withdraw/history).

``withdrawOrderId`` carries our client withdrawal id, so a withdrawal can be found again after a crash.
"""

from __future__ import annotations

from decimal import Decimal

from connectors.binance.constants import VENUE
from connectors.binance.trading import BinanceTrading
from connectors.capital import VenueWithdrawal
from connectors.trading import dec, decimal_text

STATUS = {0: "pending", 2: "pending", 4: "pending", 1: "failed", 3: "failed", 5: "failed", 6: "completed"}


class BinanceCapital:
    venue = VENUE
    supports_client_id = True

    def __init__(self, trading: BinanceTrading) -> None:
        self._trading = trading

    async def deposit_address(self, asset: str, network: str) -> str:
        raw = await self._trading._call("sapi_get_capital_deposit_address", {"coin": asset, "network": network})
        return str(raw["address"])

    async def withdraw(self, asset: str, network: str, amount: Decimal, address: str, client_id: str) -> str:
        raw = await self._trading._call(
            "sapi_post_capital_withdraw_apply",
            {
                "coin": asset,
                "network": network,
                "address": address,
                "amount": decimal_text(amount),
                "withdrawOrderId": client_id,
            },
            mutating=True,
        )
        return str(raw["id"])

    async def withdrawals(self, asset: str) -> list[VenueWithdrawal]:
        rows = await self._trading._call("sapi_get_capital_withdraw_history", {"coin": asset})
        return [
            VenueWithdrawal(
                str(r["id"]),
                str(r.get("withdrawOrderId") or ""),
                asset,
                dec(r["amount"]) + dec(r.get("transactionFee")),
                dec(r.get("transactionFee")),
                str(r["address"]),
                str(r.get("txId") or ""),
                STATUS.get(int(r["status"]), "pending"),
                0,
            )
            for r in rows
        ]
