"""Ethereum and BNB Smart Chain through their JSON-RPC (web3.py, async): native transfers to watched addresses
(each transaction's ``to``) and ERC-20 / BEP-20 ``Transfer`` logs of the configured tokens (``eth_getLogs``
over the block range, the recipient taken from the third topic). Each observation's ``sources`` is the
payer: the transaction's ``from``, or the Transfer's ``from`` (second topic)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.exceptions import Web3Exception

from wallets.chains.events import NATIVE, BlockRef, Lookup, Observation
from wallets.chains.watcher import ScannedBlock

# keccak256("Transfer(address,address,uint256)")
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
_TRANSFER = bytes.fromhex(TRANSFER_TOPIC[2:])


def _hex(value: bytes | str) -> str:
    return value if isinstance(value, str) else "0x" + bytes(value).hex()


def scan_evm_block(
    block: Mapping[str, Any],
    logs: Sequence[Mapping[str, Any]],
    lookup: Lookup,
    *,
    chain: str,
    native_asset: str,
    tokens: Mapping[str, str],
) -> list[Observation]:
    """Payments to watched addresses in one block: ``block`` as web3's ``get_block(n, True)`` gives it, ``logs``
    the Transfer logs of that block; ``tokens`` maps lower-case contract address to the asset symbol. One dict
    probe per transaction and per log."""
    height = block["number"]
    bhash = _hex(block["hash"])
    found: list[Observation] = []
    for tx in block["transactions"]:
        to = tx["to"]
        if to is None or not tx["value"]:
            continue
        account = lookup(to.lower())
        if account is not None:
            found.append(
                Observation(
                    chain=chain,
                    txid=_hex(tx["hash"]),
                    index=NATIVE,
                    address=to,
                    asset=native_asset,
                    amount=int(tx["value"]),
                    block_height=height,
                    block_hash=bhash,
                    account=account,
                    sources=(AsyncWeb3.to_checksum_address(tx["from"]),) if tx.get("from") else (),
                )
            )
    for entry in logs:
        topics = entry["topics"]
        if len(topics) != 3 or bytes(topics[0]) != _TRANSFER:
            continue  # ERC-721 Transfer has a fourth (indexed token id) topic
        asset = tokens.get(entry["address"].lower())
        if asset is None:
            continue
        recipient = "0x" + bytes(topics[2])[-20:].hex()
        account = lookup(recipient)
        if account is None:
            continue
        found.append(
            Observation(
                chain=chain,
                txid=_hex(entry["transactionHash"]),
                index=str(entry["logIndex"]),
                address=AsyncWeb3.to_checksum_address(recipient),
                asset=asset,
                amount=int.from_bytes(bytes(entry["data"])[:32], "big"),
                block_height=height,
                block_hash=bhash,
                account=account,
                token=entry["address"],
                sources=(AsyncWeb3.to_checksum_address("0x" + bytes(topics[1])[-20:].hex()),),
            )
        )
    return found


class EvmSource:
    """The watcher's view of an Ethereum-compatible node. ``tokens``: contract address -> asset symbol."""

    transient_errors: tuple[type[Exception], ...] = (aiohttp.ClientError, Web3Exception)

    def __init__(
        self,
        url: str,
        lookup: Lookup,
        *,
        chain: str = "ETH",
        native_asset: str = "ETH",
        tokens: Mapping[str, str] | None = None,
        expected_chain_id: int | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.w3 = AsyncWeb3(AsyncHTTPProvider(url, request_kwargs={"timeout": timeout_s}))
        self.lookup = lookup
        self.chain = chain
        self.native_asset = native_asset
        self.tokens = {address.lower(): symbol for address, symbol in (tokens or {}).items()}
        self.expected_chain_id = expected_chain_id
        self._checked = False

    async def close(self) -> None:
        await self.w3.provider.disconnect()

    async def _check_chain(self) -> None:
        if self.expected_chain_id is not None and not self._checked:
            got = await self.w3.eth.chain_id
            if got != self.expected_chain_id:
                raise RuntimeError(f"{self.chain} node reports chain id {got}, expected {self.expected_chain_id}")
        self._checked = True

    async def tip_height(self) -> int:
        await self._check_chain()
        return int(await self.w3.eth.block_number)

    async def block_hash(self, height: int) -> str | None:
        block = await self.w3.eth.get_block(height) if height <= await self.tip_height() else None
        return None if block is None else _hex(block["hash"])

    async def fetch(self, start: int, end: int) -> list[ScannedBlock]:
        blocks = [await self.w3.eth.get_block(h, full_transactions=True) for h in range(start, end + 1)]
        by_hash: dict[str, list[Any]] = {_hex(b["hash"]): [] for b in blocks}
        if self.tokens:
            logs = await self.w3.eth.get_logs(
                {
                    "fromBlock": start,
                    "toBlock": end,
                    "address": [AsyncWeb3.to_checksum_address(a) for a in self.tokens],
                    "topics": [TRANSFER_TOPIC],
                }
            )
            for entry in logs:
                bucket = by_hash.get(_hex(entry["blockHash"]))
                if bucket is None:
                    return []  # the logs came from another branch: a reorg is under way; try again next poll
                bucket.append(entry)
            # The range must still be the one the logs were read from (a block's hash commits to its ancestors).
            if await self.block_hash(end) != _hex(blocks[-1]["hash"]):
                return []
        return [
            ScannedBlock(
                BlockRef(b["number"], _hex(b["hash"])),
                _hex(b["parentHash"]),
                scan_evm_block(
                    b,
                    by_hash[_hex(b["hash"])],
                    self.lookup,
                    chain=self.chain,
                    native_asset=self.native_asset,
                    tokens=self.tokens,
                ),
            )
            for b in blocks
        ]
