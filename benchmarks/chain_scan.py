"""Benchmark the chain watchers' block scan with 1,000,000 watched addresses per chain.

Input: decoded blocks in memory, in exactly the form the node clients hand the watcher (Bitcoin Core's
``getblock`` verbosity 2 parsed with exact decimals; web3.py's ``get_block(n, full_transactions=True)`` and
``get_logs`` records), so no network is measured. Bitcoin blocks hold 3,000 transactions of 2 outputs; EVM
blocks hold 300 transactions, half native transfers and half token transfers each with its Transfer log.
About 1% of outputs / transfers pay a watched address.

Figures, per chain:
- scan: ``scan_bitcoin_block`` / ``scan_evm_block`` alone (one dict probe per output, transaction and log);
- watcher: the whole per-block path of ``ChainWatcher`` (scan, the block and its observations committed to
  the SQLite outbox with FULL sync, the consumer told, confirmations reported), fed by an in-memory source;
- naive peer: what many exchange back-ends do (Peatio's deposit daemon looks each transaction's addresses up
  in its payment-address table): one indexed SQL query per transaction against a SQLite table of the same
  1,000,000 addresses. Also an estimate for the plainest loop, ``address in list`` over the 1,000,000 (timed
  on a sample of outputs, extrapolated to a block).
Memory per watched address: tracemalloc around building the address book (address string, account id string,
dict entry). Target: at least 100 times each chain's real block rate (BTC 1/600 s, ETH 1/12 s, BSC 1/3 s).

Run: .venv/bin/python benchmarks/chain_scan.py [--addresses 1000000] [--seconds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hexbytes import HexBytes
from web3 import Web3
from web3.datastructures import AttributeDict

from wallets.chains import (
    TRANSFER_TOPIC,
    BlockRef,
    ChainWatcher,
    Observation,
    ScannedBlock,
    WatchedAddresses,
    WatcherStore,
    create_chain_tables,
    scan_bitcoin_block,
    scan_evm_block,
)
from wallets.db import create_db_engine

BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_TO_BECH32 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", BECH32.encode())
TARGETS = {"BTC": 100 / 600, "ETH": 100 / 12, "BSC": 100 / 3}
HIT_RATE = 0.01


def btc_addresses(n: int) -> list[str]:
    """P2WPKH-shaped mainnet addresses (bc1q + 38 bech32 characters); checksums do not matter to a lookup."""
    raw = base64.b32encode(os.urandom(24 * n)).translate(_TO_BECH32).decode()
    return ["bc1q" + raw[i * 38 : (i + 1) * 38] for i in range(n)]


def evm_addresses(n: int) -> list[str]:
    raw = os.urandom(20 * n).hex()
    return ["0x" + raw[i * 40 : (i + 1) * 40] for i in range(n)]


def btc_block(height: int, watched: list[str], rng: random.Random) -> dict[str, Any]:
    strangers = btc_addresses(6000)
    txs = []
    for t in range(3000):
        outs = []
        for n in range(2):
            address = rng.choice(watched) if rng.random() < HIT_RATE else strangers[2 * t + n]
            outs.append(
                {
                    "value": Decimal(rng.randint(1000, 10**9)) / 10**8,
                    "n": n,
                    "scriptPubKey": {"hex": "0014" + "00" * 20, "address": address, "type": "witness_v0_keyhash"},
                }
            )
        txs.append(
            {
                "txid": os.urandom(32).hex(),
                "hash": os.urandom(32).hex(),
                "version": 2,
                "size": 222,
                "vsize": 141,
                "weight": 561,
                "locktime": 0,
                "vin": [
                    {
                        "txid": os.urandom(32).hex(),
                        "vout": 0,
                        "scriptSig": {"asm": "", "hex": ""},
                        "txinwitness": ["30" * 36, "02" * 33],
                        "sequence": 4294967293,
                    }
                ],
                "vout": outs,
                "fee": Decimal("0.00000141"),
            }
        )
    block = {"hash": os.urandom(32).hex(), "height": height, "previousblockhash": os.urandom(32).hex(), "tx": txs}

    def default(o: Any) -> Any:
        return float(o)  # only to write the JSON text; it is read back as exact decimals below

    return json.loads(json.dumps(block, default=default), parse_float=Decimal)  # type: ignore[no-any-return]


def evm_block(height: int, watched: list[str], token: str, rng: random.Random) -> tuple[Any, list[Any]]:
    bhash = HexBytes(os.urandom(32))
    txs: list[Any] = []
    logs: list[Any] = []
    topic0 = HexBytes(TRANSFER_TOPIC)
    for t in range(300):
        recipient = rng.choice(watched) if rng.random() < HIT_RATE else "0x" + os.urandom(20).hex()
        txh = HexBytes(os.urandom(32))
        if t % 2:
            txs.append(
                AttributeDict(
                    {
                        "hash": txh,
                        "to": Web3.to_checksum_address(recipient),
                        "value": rng.randint(1, 10**18),
                        "from": "0x" + "11" * 20,
                    }
                )
            )
        else:
            txs.append(AttributeDict({"hash": txh, "to": token, "value": 0, "from": "0x" + "11" * 20}))
            logs.append(
                AttributeDict(
                    {
                        "address": token,
                        "topics": [
                            topic0,
                            HexBytes(b"\0" * 12 + os.urandom(20)),
                            HexBytes(b"\0" * 12 + bytes.fromhex(recipient[2:])),
                        ],
                        "data": HexBytes(rng.randint(1, 10**12).to_bytes(32, "big")),
                        "logIndex": len(logs),
                        "transactionHash": txh,
                        "blockHash": bhash,
                        "blockNumber": height,
                    }
                )
            )
    block = AttributeDict(
        {"number": height, "hash": bhash, "parentHash": HexBytes(os.urandom(32)), "transactions": txs}
    )
    return block, logs


def rate(fn: Callable[[int], None], count: int, seconds: float) -> float:
    """Blocks per second of ``fn(i)`` over at least ``seconds`` (and at least one full pass of ``count``)."""
    done, start = 0, time.perf_counter()
    while True:
        fn(done % count)
        done += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and done >= count:
            return done / elapsed


def naive_db(path: str, network: str, book: dict[str, str]) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.execute(f"CREATE TABLE addresses_{network} (address TEXT PRIMARY KEY, account TEXT) WITHOUT ROWID")
    db.executemany(f"INSERT INTO addresses_{network} VALUES (?, ?)", book.items())
    db.commit()
    return db


class MemorySource:
    """Blocks already decoded, scanned as the real sources scan them; heights follow on from 1."""

    transient_errors: tuple[type[Exception], ...] = ()

    def __init__(self, chain: str, scan: Callable[[int], ScannedBlock], count: int) -> None:
        self.chain = chain
        self.scan = scan
        self.count = count

    async def tip_height(self) -> int:
        return self.count

    async def block_hash(self, height: int) -> str | None:
        return f"{height:064x}"

    async def fetch(self, start: int, end: int) -> list[ScannedBlock]:
        return [self.scan(h) for h in range(start, end + 1)]

    async def close(self) -> None:
        pass


class NullConsumer:
    async def on_observed(self, observation: Observation) -> None:
        pass

    async def on_confirmations(self, chain: str, tip: BlockRef, pending: list[tuple[Observation, int]]) -> None:
        pass

    async def on_orphaned(self, observation: Observation) -> None:
        pass


def watcher_rate(chain: str, scan_at: Callable[[int], list[Observation]], blocks: int, tmp: str) -> float:
    """Blocks/s through ChainWatcher.poll_once with a SQLite (FULL sync) outbox."""
    engine = create_db_engine(f"sqlite:///{tmp}/watch-{chain}.db")
    create_chain_tables(engine)

    def scanned(height: int) -> ScannedBlock:
        found = [_rehome(o, height) for o in scan_at(height)]
        return ScannedBlock(BlockRef(height, f"{height:064x}"), f"{height - 1:064x}", found)

    source = MemorySource(chain, scanned, blocks)
    watcher = ChainWatcher(
        source, WatcherStore(engine, chain), NullConsumer(), start_height=1, confirmations_window=64, batch_blocks=50
    )
    start = time.perf_counter()
    applied = asyncio.run(watcher.poll_once())
    elapsed = time.perf_counter() - start
    engine.dispose()
    return applied / elapsed


def _rehome(o: Observation, height: int) -> Observation:
    return Observation(
        o.chain, o.txid, o.index, o.address, o.asset, o.amount, height, f"{height:064x}", o.account, o.token
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--addresses", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measured figure")
    parser.add_argument("--blocks", type=int, default=4, help="distinct decoded blocks per chain")
    args = parser.parse_args()
    rng = random.Random(7)
    t0 = time.perf_counter()
    print(
        f"chain_scan: {args.addresses:,} watched addresses per chain; BTC blocks of 3,000 txs x 2 outputs, "
        f"EVM blocks of 300 txs (150 native, 150 token transfers with logs); ~{HIT_RATE:.0%} pay watched"
    )

    btc_list = btc_addresses(args.addresses)
    evm_list = evm_addresses(args.addresses)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    book = WatchedAddresses()
    book.add_many("BTC", ((a, f"acct-{i}") for i, a in enumerate(btc_list)))
    per_address = (tracemalloc.get_traced_memory()[0] - before) / args.addresses
    tracemalloc.stop()
    book.add_many("ETH", ((a, f"acct-{i}") for i, a in enumerate(evm_list)))
    print(f"memory per watched address (address + account id + dict entry, tracemalloc): {per_address:.0f} bytes")

    token = Web3.to_checksum_address("0x" + "ab" * 20)
    btc_blocks = [btc_block(100 + i, btc_list, rng) for i in range(args.blocks)]
    evm_blocks = [evm_block(100 + i, evm_list, token, rng) for i in range(args.blocks)]
    lookup_btc, lookup_evm = book.lookup_for("BTC"), book.lookup_for("ETH")
    tokens = {token.lower(): "USDT"}
    hits = sum(len(scan_bitcoin_block(b, lookup_btc)) for b in btc_blocks) / args.blocks
    evm_hits = (
        sum(
            len(scan_evm_block(b, lg, lookup_evm, chain="ETH", native_asset="ETH", tokens=tokens))
            for b, lg in evm_blocks
        )
        / args.blocks
    )
    print(f"payments found per block: BTC {hits:.0f}, EVM {evm_hits:.1f}")

    with tempfile.TemporaryDirectory() as tmp:
        btc_db = naive_db(f"{tmp}/naive.db", "btc", book._by_network["BTC"])
        evm_db = naive_db(f"{tmp}/naive.db", "evm", book._by_network["ETH"])

        def btc_scan(i: int) -> None:
            scan_bitcoin_block(btc_blocks[i], lookup_btc)

        def btc_naive(i: int) -> None:
            found = 0
            for tx in btc_blocks[i]["tx"]:
                addresses = [o["scriptPubKey"]["address"] for o in tx["vout"]]
                found += len(
                    btc_db.execute("SELECT account FROM addresses_btc WHERE address IN (?, ?)", addresses).fetchall()
                )

        def evm_scan(i: int) -> None:
            block, logs = evm_blocks[i]
            scan_evm_block(block, logs, lookup_evm, chain="ETH", native_asset="ETH", tokens=tokens)

        def evm_naive(i: int) -> None:
            block, logs = evm_blocks[i]
            recipients = {lg["transactionHash"]: "0x" + bytes(lg["topics"][2])[-20:].hex() for lg in logs}
            for tx in block["transactions"]:
                who = recipients.get(tx["hash"], tx["to"].lower())
                evm_db.execute("SELECT account FROM addresses_evm WHERE address = ?", (who,)).fetchall()

        sample = [o["scriptPubKey"]["address"] for o in btc_blocks[0]["tx"][0]["vout"]] * 5
        start = time.perf_counter()
        for address in sample:
            _ = address in btc_list
        per_lookup = (time.perf_counter() - start) / len(sample)
        list_btc, list_evm = 1 / (per_lookup * 6000), 1 / (per_lookup * 300)

        results = []
        for chain, scan, naive, blocks, list_rate in (
            ("BTC", btc_scan, btc_naive, btc_blocks, list_btc),
            ("ETH", evm_scan, evm_naive, evm_blocks, list_evm),
        ):
            braid = rate(scan, len(blocks), args.seconds)
            peer = rate(naive, len(blocks), args.seconds / 2)
            if chain == "BTC":

                def obs_at(h: int) -> list[Observation]:
                    return scan_bitcoin_block(btc_blocks[h % len(btc_blocks)], lookup_btc)

                blocks_n = 40
            else:

                def obs_at(h: int) -> list[Observation]:
                    b, lg = evm_blocks[h % len(evm_blocks)]
                    return scan_evm_block(b, lg, lookup_evm, chain="ETH", native_asset="ETH", tokens=tokens)

                blocks_n = 200
            full = watcher_rate(chain, obs_at, blocks_n, tmp)
            results.append((chain, braid, full, peer, list_rate))
        btc_db.close()
        evm_db.close()

    print()
    print(
        f"{'chain':5} {'scan blk/s':>11} {'watcher blk/s':>14} {'naive SQL/tx':>13} {'scan/naive':>11} "
        f"{'list scan (est.)':>17}"
    )
    for chain, braid, full, peer, list_rate in results:
        print(f"{chain:5} {braid:11.1f} {full:14.1f} {peer:13.2f} {braid / peer:10.1f}x {list_rate:17.5f}")
    print()
    for chain, target in TARGETS.items():
        row = next(r for r in results if r[0] == ("BTC" if chain == "BTC" else "ETH"))
        need = target
        ok = "ok" if row[2] >= need else "BELOW TARGET"
        print(
            f"target {chain}: >= {need:.2f} blocks/s (100 x one block per {100 / target:.0f} s); "
            f"watcher {row[2]:.1f} blocks/s = {row[2] / (target / 100):,.0f}x real time: {ok}"
        )
    print(f"(BSC uses the EVM figures; total run {time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
