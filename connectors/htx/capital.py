"""HTX funding: GET /v2/account/deposit/address, POST /v1/dw/withdraw/api/create, GET /v1/query/deposit-withdraw.

``client-order-id`` carries our client withdrawal id (unique per account), so a withdrawal can be found again.
"""

from __future__ import annotations

from decimal import Decimal

from connectors.capital import VenueWithdrawal
from connectors.errors import Rejected
from connectors.htx.constants import VENUE
from connectors.htx.trading import HtxTrading
from connectors.trading import dec, decimal_text

# (asset, network) -> HTX chain name.
CHAINS = {("BTC", "BTC"): "btc", ("ETH", "ETH"): "eth", ("USDT", "ETH"): "usdterc20", ("USDT", "BSC"): "bep20usdt"}
STATUS = {
    "confirmed": "completed",
    "canceled": "failed",
    "reject": "failed",
    "wallet-reject": "failed",
    "confirm-error": "failed",
    "repealed": "failed",
}


class HtxCapital:
    venue = VENUE
    supports_client_id = True

    def __init__(self, trading: HtxTrading) -> None:
        self._trading = trading

    def _chain(self, asset: str, network: str) -> str:
        chain = CHAINS.get((asset, network))
        if chain is None:
            raise Rejected(VENUE, "LOCAL", f"no HTX chain for {asset} on {network}")
        return chain

    async def deposit_address(self, asset: str, network: str) -> str:
        chain = self._chain(asset, network)
        rows = await self._trading._call("spot_private_get_v2_account_deposit_address", {"currency": asset.lower()})
        for row in rows:
            if row.get("chain") == chain:
                return str(row["address"])
        raise Rejected(VENUE, "LOCAL", f"HTX gave no {chain} deposit address for {asset}")

    async def withdraw(self, asset: str, network: str, amount: Decimal, address: str, client_id: str) -> str:
        ref = await self._trading._call(
            "spot_private_post_v1_dw_withdraw_api_create",
            {
                "currency": asset.lower(),
                "chain": self._chain(asset, network),
                "address": address,
                "amount": decimal_text(amount),
                "client-order-id": client_id,
            },
            mutating=True,
        )
        return str(ref)

    async def withdrawals(self, asset: str) -> list[VenueWithdrawal]:
        rows = await self._trading._call(
            "spot_private_get_v1_query_deposit_withdraw", {"currency": asset.lower(), "type": "withdraw", "size": "100"}
        )
        return [
            VenueWithdrawal(
                str(r["id"]),
                str(r.get("client-order-id") or ""),
                asset,
                dec(r["amount"]) + dec(r.get("fee")),
                dec(r.get("fee")),
                str(r["address"]),
                str(r.get("tx-hash") or ""),
                STATUS.get(str(r.get("state")), "pending"),
                int(r.get("created-at") or 0),
            )
            for r in rows
        ]
