"""Kraken funding: DepositAddresses, Withdraw (to a withdrawal key set up in the account), WithdrawStatus.

Kraken has no client withdrawal id: a withdrawal is found again by its destination, amount and time.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from connectors.capital import VenueWithdrawal
from connectors.errors import Rejected
from connectors.kraken.constants import VENUE
from connectors.kraken.trading import ASSETS, KrakenTrading
from connectors.trading import dec, decimal_text

# (asset, network) -> Kraken's funding method name.
METHODS = {("BTC", "BTC"): "Bitcoin", ("ETH", "ETH"): "Ether (Hex)", ("USDT", "ETH"): "Tether USD (ERC20)"}
STATUS = {"Success": "completed", "Failure": "failed", "Canceled": "failed"}
CODES = {"BTC": "XXBT", "ETH": "XETH"}  # canonical -> Kraken's REST code (others are spelled the same)


class KrakenCapital:
    venue = VENUE
    supports_client_id = False

    def __init__(self, trading: KrakenTrading, withdraw_keys: Mapping[str, str]) -> None:
        self._trading = trading
        self.withdraw_keys = dict(withdraw_keys)  # destination address -> the account's withdrawal key name

    async def deposit_address(self, asset: str, network: str) -> str:
        method = METHODS.get((asset, network))
        if method is None:
            raise Rejected(VENUE, "LOCAL", f"no Kraken funding method for {asset} on {network}")
        rows = await self._trading._call(
            "private_post_depositaddresses", {"asset": CODES.get(asset, asset), "method": method}
        )
        return str(rows[0]["address"])

    async def withdraw(self, asset: str, network: str, amount: Decimal, address: str, client_id: str) -> str:
        key = self.withdraw_keys.get(address)
        if key is None:
            raise Rejected(
                VENUE, "LOCAL", f"no Kraken withdrawal key for {address}: add it in the account and in config"
            )
        raw = await self._trading._call(
            "private_post_withdraw",
            {"asset": CODES.get(asset, asset), "key": key, "address": address, "amount": decimal_text(amount)},
            mutating=True,
        )
        return str(raw["refid"])

    async def withdrawals(self, asset: str) -> list[VenueWithdrawal]:
        rows = await self._trading._call("private_post_withdrawstatus", {"asset": CODES.get(asset, asset)})
        return [
            VenueWithdrawal(
                str(r["refid"]),
                "",
                ASSETS.get(str(r["asset"]), str(r["asset"])),
                dec(r["amount"]) + dec(r.get("fee")),
                dec(r.get("fee")),
                str(r.get("info") or ""),
                str(r.get("txid") or ""),
                STATUS.get(str(r.get("status")), "pending"),
                int(r["time"]) * 1000,
            )
            for r in rows
        ]
