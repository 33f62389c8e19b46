"""What custody asks of a node besides watching it: broadcast a signed transaction, look one up by txid (for
confirmations, and for crash recovery before any rebroadcast), the hot wallet's spendable coins, balances for
the reserves report, nonces and gas prices.

``BitcoinNode`` speaks Bitcoin Core's JSON-RPC (``sendrawtransaction``, ``getrawtransaction``, ``scantxoutset``,
``gettxout``, ``estimatesmartfee``: no wallet and no address index needed, so it runs against ``bitcoind``
as against Braid's simulator). ``EvmNode`` speaks Ethereum's JSON-RPC through web3.py. Both answer with
integer base units (satoshi, wei, token units), never floats.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.exceptions import TransactionNotFound

from wallets.chains.bitcoin import BitcoinRPC, BitcoinRPCError, btc_to_sat

log = structlog.get_logger(__name__)

NOT_FOUND = -5  # Core: "No such mempool or blockchain transaction"
# balanceOf(address) selector: keccak256("balanceOf(address)")[:4]
BALANCE_OF = bytes.fromhex("70a08231")


@dataclass(frozen=True, slots=True)
class Utxo:
    txid: str
    vout: int
    value_sat: int
    address: str
    height: int


class BitcoinNode:
    """One Bitcoin network's node, for withdrawals and reserves."""

    def __init__(self, rpc: BitcoinRPC, *, fallback_fee_sat_vb: int = 2) -> None:
        self.rpc = rpc
        self.fallback_fee_sat_vb = fallback_fee_sat_vb

    async def close(self) -> None:
        await self.rpc.close()

    async def broadcast(self, network: str, raw: bytes) -> str:
        return await self.rpc.sendrawtransaction(raw.hex())

    async def tip_height(self) -> int:
        return await self.rpc.getblockcount()

    async def lookup(self, network: str, txid: str) -> int | None:
        """None if the node knows no such transaction; else its confirmations (0: in the mempool)."""
        try:
            tx = await self.rpc.getrawtransaction(txid, True)
        except BitcoinRPCError as exc:
            if exc.code == NOT_FOUND:
                return None
            raise
        return int(tx.get("confirmations") or 0)

    async def utxos(self, addresses: Sequence[str], *, skip_mempool_spent: bool = True) -> list[Utxo]:
        """Confirmed unspent outputs paying ``addresses`` (``scantxoutset``), less those a mempool transaction
        already spends (``gettxout`` with the mempool), so two withdrawals never pick the same coin."""
        if not addresses:
            return []
        found = await self.rpc.call("scantxoutset", "start", [f"addr({a})" for a in addresses])
        by_desc = {f"addr({a})": a for a in addresses}
        out: list[Utxo] = []
        for u in found.get("unspents", []):
            if skip_mempool_spent and await self.rpc.call("gettxout", u["txid"], u["vout"], True) is None:
                continue
            address = by_desc.get(u.get("desc", ""), "")
            if not address:  # Core rewrites the descriptor with a checksum: match on the script instead
                address = next((a for d, a in by_desc.items() if u.get("desc", "").startswith(d)), "")
            out.append(Utxo(u["txid"], int(u["vout"]), btc_to_sat(u["amount"]), address, int(u.get("height", 0))))
        return out

    async def unspent(self, txid: str, vout: int) -> int | None:
        """The output's satoshi if it is unspent, counting the mempool (``gettxout``); else None."""
        out = await self.rpc.call("gettxout", txid, vout, True)
        return None if out is None else btc_to_sat(out["value"])

    async def balances(self, addresses: Sequence[str]) -> dict[str, int]:
        """Confirmed satoshi per address (addresses holding nothing are absent)."""
        out: dict[str, int] = {}
        for u in await self.utxos(addresses, skip_mempool_spent=False):
            out[u.address] = out.get(u.address, 0) + u.value_sat
        return out

    async def fee_rate_sat_vb(self, conf_target: int = 6) -> int:
        """``estimatesmartfee`` in satoshi per virtual byte (at least 1); the fallback when the node has none."""
        try:
            answer = await self.rpc.estimatesmartfee(conf_target)
        except BitcoinRPCError:
            return self.fallback_fee_sat_vb
        rate = answer.get("feerate")
        if rate is None:
            return self.fallback_fee_sat_vb
        return max(1, -(-btc_to_sat(Decimal(rate)) // 1000))  # BTC/kvB -> sat/vB, rounded up


class EvmNode:
    """One EVM network's node (Ethereum or BNB Smart Chain), for withdrawals, the hot signer and reserves."""

    def __init__(self, url: str, *, timeout_s: float = 30.0) -> None:
        self.url = url
        self.w3 = AsyncWeb3(AsyncHTTPProvider(url, request_kwargs={"timeout": timeout_s}))

    async def close(self) -> None:
        await self.w3.provider.disconnect()

    async def broadcast(self, network: str, raw: bytes) -> str:
        return "0x" + bytes(await self.w3.eth.send_raw_transaction(raw)).hex()

    async def tip_height(self) -> int:
        return int(await self.w3.eth.block_number)

    async def lookup(self, network: str, txid: str) -> int | None:
        """None if the node knows no such transaction; else its confirmations (0: pending)."""
        try:
            tx = await self.w3.eth.get_transaction(txid)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None
        height = tx.get("blockNumber")
        if height is None:
            return 0
        if await self.succeeded(txid) is False:
            # Mined but reverted (a token transfer that failed): nothing was paid. Report it as never confirming,
            # so the withdrawal is neither completed nor sent again; its funds stay locked for an operator.
            log.error("transaction reverted on chain: withdrawal left for an operator", txid=txid, block=height)
            return 0
        return int(await self.w3.eth.block_number) - int(height) + 1

    async def succeeded(self, txid: str) -> bool | None:
        """The mined transaction's receipt status (a reverted token transfer moved nothing); None if not mined."""
        try:
            receipt = await self.w3.eth.get_transaction_receipt(txid)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None
        return bool(receipt["status"])

    async def nonce(self, network: str, address: str) -> int:
        return int(await self.w3.eth.get_transaction_count(AsyncWeb3.to_checksum_address(address), "pending"))

    async def gas_price(self, network: str) -> int:
        return int(await self.w3.eth.gas_price)

    async def balance(self, network: str, address: str, token: str | None, block: int | str = "latest") -> int:
        """Native balance in wei, or the ``token`` contract's ``balanceOf``, at ``block`` (a height, "latest",
        "pending")."""
        owner = AsyncWeb3.to_checksum_address(address)
        at: Any = block
        if not token:
            return int(await self.w3.eth.get_balance(owner, at))
        data = BALANCE_OF + bytes(12) + bytes.fromhex(owner[2:])
        answer: Any = await self.w3.eth.call({"to": AsyncWeb3.to_checksum_address(token), "data": data}, at)
        return int.from_bytes(bytes(answer)[:32], "big") if answer else 0
