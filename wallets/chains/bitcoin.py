"""Bitcoin: an async client for Bitcoin Core's JSON-RPC, and the watcher's source built on it.

Amounts arrive as JSON numbers in BTC ("0.00100000"); they are parsed as ``Decimal`` and turned into integer
satoshi, never through a binary float. The same code runs against ``bitcoind -regtest`` and Braid's simulator.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import aiohttp

from wallets.chains.events import BlockRef, Lookup, Observation
from wallets.chains.watcher import ScannedBlock

COIN = 100_000_000


def btc_to_sat(value: Decimal | int | str) -> int:
    sat = Decimal(value) * COIN
    if sat != sat.to_integral_value():
        raise ValueError(f"amount {value} has more than 8 decimals")
    return int(sat)


class BitcoinRPCError(Exception):
    """An error answer from the node, with Bitcoin Core's code (e.g. -26 rejected, -25 missing inputs)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _loads(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)


class BitcoinRPC:
    """``await rpc.call("getblockcount")`` or the named helpers. HTTP basic auth, one session per client."""

    def __init__(self, url: str, user: str = "", password: str = "", *, timeout_s: float = 30.0) -> None:  # nosec B107 # empty default: no RPC credentials configured
        self.url = url
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._headers = {"Content-Type": "application/json"}
        if user or password:
            self._headers["Authorization"] = f"Basic {token}"
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._ids = itertools.count(1)

    async def __aenter__(self) -> BitcoinRPC:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(self, method: str, *params: Any) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        body = {"jsonrpc": "1.0", "id": next(self._ids), "method": method, "params": list(params)}
        async with self._session.post(self.url, data=json.dumps(body, default=str), headers=self._headers) as resp:
            text = await resp.text()
            if resp.status == 401:
                raise BitcoinRPCError(-401, "unauthorised (check the RPC user and password)")
            try:
                answer = _loads(text)
            except ValueError:
                raise BitcoinRPCError(-32700, f"HTTP {resp.status}: {text[:200]!r}") from None
        error = answer.get("error")
        if error:
            raise BitcoinRPCError(int(error.get("code", -1)), str(error.get("message", "")))
        return answer.get("result")

    async def getblockchaininfo(self) -> dict[str, Any]:
        return await self.call("getblockchaininfo")  # type: ignore[no-any-return]

    async def getblockcount(self) -> int:
        return int(await self.call("getblockcount"))

    async def getblockhash(self, height: int) -> str:
        return str(await self.call("getblockhash", height))

    async def getblock(self, blockhash: str, verbosity: int = 2) -> Any:
        return await self.call("getblock", blockhash, verbosity)

    async def getrawtransaction(self, txid: str, verbose: bool | int = False, blockhash: str | None = None) -> Any:
        params: list[Any] = [txid, verbose] + ([blockhash] if blockhash else [])
        return await self.call("getrawtransaction", *params)

    async def sendrawtransaction(self, hexstring: str) -> str:
        return str(await self.call("sendrawtransaction", hexstring))

    async def testmempoolaccept(self, rawtxs: Sequence[str]) -> list[dict[str, Any]]:
        return await self.call("testmempoolaccept", list(rawtxs))  # type: ignore[no-any-return]

    async def estimatesmartfee(self, conf_target: int) -> dict[str, Any]:
        return await self.call("estimatesmartfee", conf_target)  # type: ignore[no-any-return]

    async def getrawmempool(self) -> list[str]:
        return await self.call("getrawmempool")  # type: ignore[no-any-return]


def input_addresses(tx: dict[str, Any]) -> tuple[str, ...]:
    """The addresses a transaction spends from: its inputs' ``prevout`` addresses (``getblock`` verbosity 3,
    ``getrawtransaction`` verbosity 2), in input order without repeats; empty for a coinbase or without prevouts."""
    seen: dict[str, None] = {}
    for vin in tx.get("vin", ()):
        address = vin.get("prevout", {}).get("scriptPubKey", {}).get("address")
        if address:
            seen.setdefault(address)
    return tuple(seen)


def scan_bitcoin_block(block: dict[str, Any], lookup: Lookup, chain: str = "BTC") -> list[Observation]:
    """Outputs of a ``getblock`` (verbosity 2 or 3) block that pay watched addresses: one dict probe per output.
    With verbosity 3 each observation carries the transaction's input addresses as its ``sources``."""
    found: list[Observation] = []
    height = block["height"]
    bhash = block["hash"]
    for tx in block["tx"]:
        sources: tuple[str, ...] | None = None
        for out in tx["vout"]:
            address = out["scriptPubKey"].get("address")
            if address is None:
                continue
            account = lookup(address)
            if account is None:
                continue
            if sources is None:
                sources = input_addresses(tx)
            found.append(
                Observation(
                    chain=chain,
                    txid=tx["txid"],
                    index=str(out["n"]),
                    address=address,
                    asset="BTC",
                    amount=btc_to_sat(out["value"]),
                    block_height=height,
                    block_hash=bhash,
                    account=account,
                    sources=sources,
                )
            )
    return found


class BitcoinSource:
    """The watcher's view of a Bitcoin Core node (or the simulator)."""

    transient_errors: tuple[type[Exception], ...] = (aiohttp.ClientError, BitcoinRPCError)

    def __init__(self, rpc: BitcoinRPC, lookup: Lookup, chain: str = "BTC", *, verbosity: int = 3) -> None:
        """``verbosity`` 3 (Bitcoin Core 23+) brings each input's prevout, so deposits carry their source
        addresses; 2 for older nodes (no sources)."""
        self.rpc = rpc
        self.verbosity = verbosity
        self.lookup = lookup
        self.chain = chain

    async def close(self) -> None:
        await self.rpc.close()

    async def tip_height(self) -> int:
        return await self.rpc.getblockcount()

    async def block_hash(self, height: int) -> str | None:
        try:
            return await self.rpc.getblockhash(height)
        except BitcoinRPCError as exc:
            if exc.code == -8:  # Block height out of range
                return None
            raise

    async def pending(self, seen: set[str]) -> tuple[list[Observation], set[str]]:
        """Payments to watched addresses in the mempool: ``seen`` holds txids already scanned (each is read once
        with ``getrawtransaction`` verbosity 2); returns the new observations (block height 0, no block hash)
        and the mempool's txids now."""
        txids = set(await self.rpc.getrawmempool())
        found: list[Observation] = []
        for txid in txids - seen:
            try:
                tx = await self.rpc.getrawtransaction(txid, 2 if self.verbosity == 3 else 1)
            except BitcoinRPCError:
                continue  # mined or dropped meanwhile
            block = {"height": 0, "hash": "", "tx": [tx]}
            found.extend(scan_bitcoin_block(block, self.lookup, self.chain))
        return found, txids

    async def fetch(self, start: int, end: int) -> list[ScannedBlock]:
        out: list[ScannedBlock] = []
        for height in range(start, end + 1):
            bhash = await self.block_hash(height)
            if bhash is None:
                break
            block = await self.rpc.getblock(bhash, self.verbosity)
            # Bitcoin Core lowercases bech32 in its answers; the lookup dict holds normalised addresses.
            out.append(
                ScannedBlock(
                    BlockRef(height, bhash),
                    block.get("previousblockhash", ""),
                    scan_bitcoin_block(block, self.lookup, self.chain),
                )
            )
        return out
