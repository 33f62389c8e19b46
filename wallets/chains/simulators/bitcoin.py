"""A Bitcoin Core regtest node simulator: the JSON-RPC subset Braid uses, over real HTTP, with real data.

Bitcoin Core itself cannot be installed from the package registries Braid builds from, so this stands in for
``bitcoind -regtest`` in tests and local runs. Blocks and transactions are real Bitcoin serialisation (via
``embit``): the genesis block is regtest's own, headers carry real proof of work at regtest's target, coinbases
carry BIP-34 heights and BIP-141 witness commitments, txids and block hashes are double SHA-256.

Implemented methods: getblockchaininfo, getblockcount, getbestblockhash, getblockhash, getblock (verbosity 0, 1,
2, and 3 with each input's ``prevout``), getblockheader, getrawtransaction (as with ``-txindex=1``; verbosity 2
adds prevouts), gettxout, scantxoutset (``addr(...)`` descriptors), sendrawtransaction, testmempoolaccept,
getrawmempool, estimatesmartfee, generatetoaddress, generateblock, invalidateblock, reconsiderblock; plus the
simulator-only ``simminebranch parent_hash nblocks address`` that mines a competing branch (a longer one
becomes the best chain, as more work would on a real node).

``sendrawtransaction`` checks what Core's mempool checks for native segwit v0 spends: inputs exist and are
unspent (``-25 bad-txns-inputs-missingorspent``), no conflict with the mempool (``-26 txn-mempool-conflict``;
no replacement), coinbase maturity, amounts, dust, minimum relay fee, maxfeerate, and the witness: P2WPKH and
P2WSH (``<key> CHECKSIG`` or m-of-n ``CHECKMULTISIG``) with BIP-143 signature hashes, strict DER and low S.
Failures use Core's codes and reject reasons (the ``mandatory-`` / ``non-mandatory-script-verify-flag`` forms
of Core 0.21 to 27). Not simulated: legacy and P2SH-wrapped inputs (refused as ``bad-txns-nonstandard-inputs``),
taproot spends, timelocks, replacement by fee, package relay, the wallet RPCs, P2P. ``estimatesmartfee``
answers a fixed rate set when the simulator starts.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import Any

from aiohttp import web
from embit import ec
from embit.script import Script, Witness, address_to_scriptpubkey, p2pkh_from_p2wpkh
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from wallets.chains.bitcoin import COIN

REGTEST_BITS = 0x207FFFFF
HALVING_INTERVAL = 150  # regtest
COINBASE_MATURITY = 100
MIN_RELAY_SAT_PER_KVB = 1000
MAX_FEERATE_SAT_PER_KVB = 10_000_000  # Core's default maxfeerate 0.10 BTC/kvB
SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0
GENESIS_SCRIPT_SIG = bytes.fromhex(
    "04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66"
    "207365636f6e64206261696c6f757420666f722062616e6b73"
)
GENESIS_PUBKEY = bytes.fromhex(
    "04678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba"
    "0b8d578a4c702b6bf11d5f"
)


class RPCError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def merkle_root(hashes: list[bytes]) -> bytes:
    level = list(hashes)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def wtxid(tx: Transaction) -> bytes:
    """Internal byte order hash of the full (witness) serialisation."""
    return sha256d(tx.serialize())


def tx_sizes(tx: Transaction) -> tuple[int, int, int]:
    """(size, vsize, weight)."""
    full = len(tx.serialize())
    stripped = full
    if tx.is_segwit:
        stripped = full - 2 - sum(len(inp.witness.serialize()) for inp in tx.vin)
    weight = stripped * 3 + full
    return full, (weight + 3) // 4, weight


def is_coinbase(tx: Transaction) -> bool:
    return len(tx.vin) == 1 and tx.vin[0].txid == b"\x00" * 32 and tx.vin[0].vout == 0xFFFFFFFF


def script_type(spk: bytes) -> str:
    kind = Script(spk).script_type()
    if kind == "p2wpkh":
        return "witness_v0_keyhash"
    if kind == "p2wsh":
        return "witness_v0_scripthash"
    if kind == "p2tr":
        return "witness_v1_taproot"
    if kind == "p2pkh":
        return "pubkeyhash"
    if kind == "p2sh":
        return "scripthash"
    if spk[:1] == b"\x6a":
        return "nulldata"
    if len(spk) in (35, 67) and spk[-1] == 0xAC:
        return "pubkey"
    return "nonstandard"


def dust_threshold(spk: bytes) -> int:
    """Core's GetDustThreshold at the default 3000 sat/kvB dust relay fee."""
    if spk[:1] == b"\x6a":
        return 0
    size = 8 + 1 + len(spk)
    witness = len(spk) >= 4 and spk[0] in (0,) + tuple(range(0x51, 0x61)) and spk[1] + 2 == len(spk)
    size += 32 + 4 + 1 + (107 // 4 if witness else 107) + 4
    return size * 3000 // 1000


def is_strict_der(sig: bytes) -> bool:
    """BIP-66 encoding rules (``sig`` includes the trailing sighash byte)."""
    if len(sig) < 9 or len(sig) > 73 or sig[0] != 0x30 or sig[1] != len(sig) - 3:
        return False
    rlen = sig[3]
    if 5 + rlen >= len(sig):
        return False
    slen = sig[5 + rlen]
    if rlen + slen + 7 != len(sig) or sig[2] != 0x02 or sig[4 + rlen] != 0x02:
        return False
    r, s = sig[4 : 4 + rlen], sig[6 + rlen : 6 + rlen + slen]
    for part in (r, s):
        if not part or part[0] & 0x80 or (len(part) > 1 and part[0] == 0 and not part[1] & 0x80):
            return False
    return True


def der_s(sig: bytes) -> int:
    rlen = sig[3]
    slen = sig[5 + rlen]
    return int.from_bytes(sig[6 + rlen : 6 + rlen + slen], "big")


class ScriptFailure(Exception):
    def __init__(self, reason: str, mandatory: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.mandatory = mandatory


FALSE_TOP = "Script evaluated without error but finished with a false/empty top stack element"


def _check_sig(tx: Transaction, index: int, script_code: Script, value: int, sig: bytes, pub: bytes) -> bool:
    if not sig:
        return False
    if not is_strict_der(sig):
        raise ScriptFailure("Non-canonical DER signature", True)
    if sig[-1] & ~0x80 not in (1, 2, 3):
        raise ScriptFailure("Signature hash type missing or not understood", False)
    if der_s(sig[:-1]) > SECP256K1_HALF_N:
        raise ScriptFailure("Non-canonical signature: S value is unnecessarily high", False)
    if len(pub) != 33 or pub[0] not in (2, 3):
        raise ScriptFailure("Using non-compressed keys in segwit", False)
    try:
        key = ec.PublicKey.parse(pub)
        signature = ec.Signature.parse(sig[:-1])
    except Exception:  # noqa: BLE001 - an unparsable key or signature simply fails the check
        return False
    digest = tx.sighash_segwit(index, script_code, value, sighash=sig[-1])
    return bool(key.verify(signature, digest))


def parse_witness_script(ws: bytes) -> tuple[int, list[bytes]]:
    """``<key> CHECKSIG`` -> (1, [key]); ``m <keys> n CHECKMULTISIG`` -> (m, keys). Anything else is refused."""
    if len(ws) == 35 and ws[0] == 33 and ws[-1] == 0xAC:
        return 1, [ws[1:34]]
    if len(ws) >= 37 and ws[-1] == 0xAE and 0x51 <= ws[0] <= 0x60 and 0x51 <= ws[-2] <= 0x60:
        m, n = ws[0] - 0x50, ws[-2] - 0x50
        body = ws[1:-2]
        if len(body) == 34 * n and m <= n:
            keys = [body[i * 34 + 1 : i * 34 + 34] for i in range(n)]
            if all(body[i * 34] == 33 for i in range(n)):
                return m, keys
    raise RPCError(-26, "bad-witness-nonstandard")


def verify_input(tx: Transaction, index: int, spk: bytes, value: int) -> None:
    """Raise ScriptFailure if input ``index`` does not validly spend ``spk`` worth ``value`` satoshi."""
    inp = tx.vin[index]
    items = list(inp.witness.items) if inp.witness else []
    if inp.script_sig and inp.script_sig.data:
        raise ScriptFailure("Witness requires empty scriptSig", True)
    kind = Script(spk).script_type()
    if kind == "p2wpkh":
        if len(items) != 2:
            raise ScriptFailure("Witness program hash mismatch", True)
        sig, pub = items
        if hashlib.new("ripemd160", hashlib.sha256(pub).digest()).digest() != spk[2:]:
            raise ScriptFailure("Witness program hash mismatch", True)
        if not _check_sig(tx, index, p2pkh_from_p2wpkh(Script(spk)), value, sig, pub):
            raise ScriptFailure(FALSE_TOP, True)
        return
    if kind == "p2wsh":
        if not items or hashlib.sha256(items[-1]).digest() != spk[2:]:
            raise ScriptFailure("Witness program hash mismatch", True)
        ws = items[-1]
        m, keys = parse_witness_script(ws)
        stack = items[:-1]
        code = Script(ws)
        if len(keys) == 1 and ws[-1] == 0xAC:
            if len(stack) != 1:
                raise ScriptFailure("Stack size must be exactly one after execution", True)
            if not _check_sig(tx, index, code, value, stack[0], keys[0]):
                raise ScriptFailure(FALSE_TOP, True)
            return
        if len(stack) != m + 1:
            raise ScriptFailure("Stack size must be exactly one after execution", True)
        if stack[0]:
            raise ScriptFailure("Dummy CHECKMULTISIG argument must be zero", True)
        sigs, k = stack[1:], 0
        for sig in sigs:
            while k < len(keys) and not _check_sig(tx, index, code, value, sig, keys[k]):
                k += 1
            if k == len(keys):
                raise ScriptFailure(FALSE_TOP, True)
            k += 1
        return
    raise RPCError(-26, "bad-txns-nonstandard-inputs")


@dataclass
class Coin:
    out: TransactionOutput
    height: int
    coinbase: bool


@dataclass
class SimBlock:
    hash: str
    height: int
    parent: str | None
    header: bytes
    txs: list[Transaction]
    time: int
    nonce: int
    seq: int  # order of arrival (tie-break between branches of equal work)

    def raw(self) -> bytes:
        out = BytesIO()
        out.write(self.header)
        out.write(_compact(len(self.txs)))
        for tx in self.txs:
            out.write(tx.serialize())
        return out.getvalue()


def _compact(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    return b"\xfe" + n.to_bytes(4, "little")


def _height_push(height: int) -> bytes:
    n = height.to_bytes((height.bit_length() + 8) // 8, "little")  # minimal, sign bit clear
    return bytes([len(n)]) + n


def _bits_target(bits: int) -> int:
    return (bits & 0xFFFFFF) << (8 * ((bits >> 24) - 3))


def subsidy(height: int) -> int:
    halvings = height // HALVING_INTERVAL
    return 0 if halvings >= 64 else (50 * COIN) >> halvings


@dataclass
class MempoolEntry:
    tx: Transaction
    fee: int
    vsize: int


@dataclass
class RegtestNode:
    """The chain state. Not thread-safe; the HTTP server calls it from one event loop."""

    fee_rate_btc_kvb: Decimal = Decimal("0.00001000")
    blocks: dict[str, SimBlock] = field(default_factory=dict)
    best: list[str] = field(default_factory=list)
    invalid: set[str] = field(default_factory=set)
    utxo: dict[tuple[str, int], Coin] = field(default_factory=dict)
    mempool: dict[str, MempoolEntry] = field(default_factory=dict)
    tx_block: dict[str, str] = field(default_factory=dict)
    _seq: int = 0

    def __post_init__(self) -> None:
        if not self.blocks:
            self._add_genesis()

    # -- blocks --------------------------------------------------------------------------------------------
    def _add_genesis(self) -> None:
        cb = Transaction(
            version=1,
            vin=[TransactionInput(b"\x00" * 32, 0xFFFFFFFF, Script(GENESIS_SCRIPT_SIG))],
            vout=[TransactionOutput(50 * COIN, Script(bytes([65]) + GENESIS_PUBKEY + b"\xac"))],
        )
        block = self._make_block(None, [cb], version=1, timestamp=1296688602, nonce=2)
        self.blocks[block.hash] = block
        self.best = [block.hash]
        self.tx_block[cb.txid().hex()] = block.hash  # the genesis output is not spendable, as in Core

    def _make_block(
        self,
        parent: str | None,
        txs: list[Transaction],
        *,
        version: int = 0x20000000,
        timestamp: int | None = None,
        nonce: int = 0,
    ) -> SimBlock:
        prev = bytes.fromhex(parent)[::-1] if parent else b"\x00" * 32
        root = merkle_root([tx.hash() for tx in txs])
        if timestamp is None:
            ptime = self.blocks[parent].time if parent else 0
            timestamp = max(int(time.time()), ptime + 1)
        target = _bits_target(REGTEST_BITS)
        while True:
            header = (
                version.to_bytes(4, "little")
                + prev
                + root
                + timestamp.to_bytes(4, "little")
                + REGTEST_BITS.to_bytes(4, "little")
                + nonce.to_bytes(4, "little")
            )
            digest = sha256d(header)
            if int.from_bytes(digest, "little") <= target:
                break
            nonce += 1
        height = self.blocks[parent].height + 1 if parent else 0
        self._seq += 1
        return SimBlock(digest[::-1].hex(), height, parent, header, txs, timestamp, nonce, self._seq)

    def _coinbase(self, height: int, spk: bytes, fees: int, others: list[Transaction]) -> Transaction:
        cb = Transaction(
            version=2,
            vin=[
                TransactionInput(
                    b"\x00" * 32, 0xFFFFFFFF, Script(_height_push(height) + b"\x00"), witness=Witness([b"\x00" * 32])
                )
            ],
            vout=[TransactionOutput(subsidy(height) + fees, Script(spk))],
        )
        # BIP-141 commitment: the witness merkle root (coinbase's wtxid counted as zero) and the reserved value.
        root = merkle_root([b"\x00" * 32] + [wtxid(tx) for tx in others])
        commitment = sha256d(root + b"\x00" * 32)
        cb.vout.append(TransactionOutput(0, Script(b"\x6a\x24\xaa\x21\xa9\xed" + commitment)))
        return cb

    def mine(self, spk: bytes, txs: list[Transaction] | None = None, parent: str | None = None) -> str:
        """Mine one block on ``parent`` (default: the tip) with ``txs`` (default: the whole mempool)."""
        parent = parent or self.best[-1]
        height = self.blocks[parent].height + 1
        if txs is None:
            chosen = [e.tx for e in self.mempool.values()]
            fees = sum(e.fee for e in self.mempool.values())
        else:
            chosen, fees = txs, sum(self._fee_in_view(tx) for tx in txs)
        block = self._make_block(parent, [self._coinbase(height, spk, fees, chosen), *chosen])
        self.blocks[block.hash] = block
        self._activate_best()
        return block.hash

    def block_from_raw(self, raw: bytes) -> SimBlock:
        """A block as ``SimBlock.raw`` wrote it (its parent must be known, or be loaded before ``activate``)."""
        stream = BytesIO(raw)
        header = stream.read(80)
        count = stream.read(1)[0]
        if count == 0xFD:
            count = int.from_bytes(stream.read(2), "little")
        elif count == 0xFE:
            count = int.from_bytes(stream.read(4), "little")
        txs = [Transaction.read_from(stream) for _ in range(count)]
        bhash = sha256d(header)[::-1].hex()
        parent = header[4:36][::-1].hex()
        height = self.blocks[parent].height + 1 if parent in self.blocks else 0
        self._seq += 1
        return SimBlock(
            bhash,
            height,
            parent,
            header,
            txs,
            int.from_bytes(header[68:72], "little"),
            int.from_bytes(header[76:80], "little"),
            self._seq,
        )

    def activate(self) -> None:
        """Pick the best chain again (after blocks were added directly)."""
        self._activate_best()

    def _fee_in_view(self, tx: Transaction) -> int:
        entry = self.mempool.get(tx.txid().hex())
        return entry.fee if entry else 0

    def _valid_chain(self, tip: str) -> list[str] | None:
        path: list[str] = []
        cur: str | None = tip
        while cur is not None:
            if cur in self.invalid:
                return None
            path.append(cur)
            cur = self.blocks[cur].parent
        return path[::-1]

    def _activate_best(self) -> None:
        """Make the valid branch with the most work (longest: equal difficulty) the best chain; first seen wins
        a tie. A switch disconnects and reconnects, returning the old branch's transactions to the mempool."""
        children = {b.parent for b in self.blocks.values()}
        tips = [b for b in self.blocks.values() if b.hash not in children or b.hash == self.best[-1]]
        best_path: list[str] | None = None
        best_key: tuple[int, int] | None = None
        for tip in sorted(tips, key=lambda b: b.seq):
            path = self._valid_chain(tip.hash)
            while path is None and tip.parent is not None:  # an invalid block: its valid ancestors still count
                tip = self.blocks[tip.parent]
                path = self._valid_chain(tip.hash)
            if path is None:
                continue
            key = (len(path), -self.blocks[path[-1]].seq)
            if path[-1] == self.best[-1]:
                key = (len(path), 1)  # keep the current tip on a tie
            if best_key is None or key > best_key:
                best_key, best_path = key, path
        assert best_path is not None
        if best_path[: len(self.best)] == self.best:
            for bhash in best_path[len(self.best) :]:
                self._connect(self.blocks[bhash])
            self.best = best_path
            return
        old_txs = [tx for h in self.best if h not in set(best_path) for tx in self.blocks[h].txs if not is_coinbase(tx)]
        old_mempool = [e.tx for e in self.mempool.values()]
        self.utxo.clear()
        self.tx_block.clear()
        self.mempool.clear()
        self.best = []
        for bhash in best_path:
            self._connect(self.blocks[bhash])
        self.best = best_path
        for tx in old_txs + old_mempool:
            try:
                self.accept(tx)
            except RPCError:
                pass

    def _connect(self, block: SimBlock) -> None:
        for tx in block.txs:
            txid = tx.txid().hex()
            self.tx_block[txid] = block.hash
            self.mempool.pop(txid, None)
            if block.height == 0:
                continue
            cb = is_coinbase(tx)
            if not cb:
                for inp in tx.vin:
                    self.utxo.pop((inp.txid.hex(), inp.vout), None)
            for n, out in enumerate(tx.vout):
                if out.script_pubkey.data[:1] != b"\x6a":
                    self.utxo[(txid, n)] = Coin(out, block.height, cb)
        # Mempool transactions that conflict with this block are gone.
        spent = {(i.txid.hex(), i.vout) for tx in block.txs if not is_coinbase(tx) for i in tx.vin}
        for txid, entry in list(self.mempool.items()):
            if any((i.txid.hex(), i.vout) in spent for i in entry.tx.vin):
                del self.mempool[txid]

    # -- transactions --------------------------------------------------------------------------------------
    def check(self, tx: Transaction, max_fee_rate: int = MAX_FEERATE_SAT_PER_KVB) -> tuple[int, int]:
        """Core's mempool acceptance checks; returns (fee, vsize) or raises RPCError."""
        txid = tx.txid().hex()
        if not tx.vin:
            raise RPCError(-26, "bad-txns-vin-empty")
        if not tx.vout:
            raise RPCError(-26, "bad-txns-vout-empty")
        if is_coinbase(tx):
            raise RPCError(-26, "coinbase")
        if txid in self.tx_block and any((txid, n) in self.utxo for n in range(len(tx.vout))):
            raise RPCError(-27, "Transaction outputs already in utxo set")
        mempool_spent = {(i.txid.hex(), i.vout): t for t, e in self.mempool.items() for i in e.tx.vin}
        tip = self.blocks[self.best[-1]].height
        value_in = 0
        coins: list[tuple[bytes, int]] = []
        seen: set[tuple[str, int]] = set()
        for inp in tx.vin:
            point = (inp.txid.hex(), inp.vout)
            if point in seen:
                raise RPCError(-26, "bad-txns-inputs-duplicate")
            seen.add(point)
            if point in mempool_spent:
                raise RPCError(-26, "txn-mempool-conflict")
            coin = self.utxo.get(point)
            if coin is None:
                parent = self.mempool.get(point[0])
                if parent is not None and point[1] < len(parent.tx.vout):
                    coin = Coin(parent.tx.vout[point[1]], tip + 1, False)
            if coin is None:
                raise RPCError(-25, "bad-txns-inputs-missingorspent")
            if coin.coinbase and tip + 1 - coin.height < COINBASE_MATURITY:
                raise RPCError(
                    -26,
                    f"bad-txns-premature-spend-of-coinbase, tried to spend coinbase at depth {tip + 1 - coin.height}",
                )
            value_in += coin.out.value
            coins.append((coin.out.script_pubkey.data, coin.out.value))
        value_out = sum(o.value for o in tx.vout)
        if value_in < value_out:
            raise RPCError(-26, f"bad-txns-in-belowout, {_btc(value_in)} < {_btc(value_out)}")
        for out in tx.vout:
            if script_type(out.script_pubkey.data) == "nonstandard":
                raise RPCError(-26, "scriptpubkey")
            if out.value < dust_threshold(out.script_pubkey.data):
                raise RPCError(-26, "dust")
        for index, (spk, value) in enumerate(coins):
            try:
                verify_input(tx, index, spk, value)
            except ScriptFailure as exc:
                prefix = "mandatory-script-verify-flag-failed" if exc.mandatory else "non-mandatory-script-verify-flag"
                raise RPCError(-26, f"{prefix} ({exc.reason})") from None
        fee = value_in - value_out
        _, vsize, _ = tx_sizes(tx)
        if fee * 1000 < MIN_RELAY_SAT_PER_KVB * vsize:
            raise RPCError(-26, f"min relay fee not met, {fee} < {(MIN_RELAY_SAT_PER_KVB * vsize + 999) // 1000}")
        if max_fee_rate and fee * 1000 > max_fee_rate * vsize:
            raise RPCError(-25, "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)")
        return fee, vsize

    def accept(self, tx: Transaction, max_fee_rate: int = MAX_FEERATE_SAT_PER_KVB) -> str:
        txid: str = tx.txid().hex()
        if txid in self.mempool:
            return txid  # as Core: already in the mempool is not an error
        fee, vsize = self.check(tx, max_fee_rate)
        self.mempool[txid] = MempoolEntry(tx, fee, vsize)
        return txid

    def invalidate(self, bhash: str) -> None:
        if bhash not in self.blocks:
            raise RPCError(-5, "Block not found")
        if self.blocks[bhash].height == 0:
            raise RPCError(-1, "Cannot invalidate the genesis block")
        self.invalid.add(bhash)
        self._activate_best()

    def reconsider(self, bhash: str) -> None:
        if bhash not in self.blocks:
            raise RPCError(-5, "Block not found")
        self.invalid.discard(bhash)
        self._activate_best()

    # -- JSON views ----------------------------------------------------------------------------------------
    def tip_height(self) -> int:
        return len(self.best) - 1

    def confirmations(self, bhash: str) -> int:
        block = self.blocks[bhash]
        if block.height < len(self.best) and self.best[block.height] == bhash:
            return self.tip_height() - block.height + 1
        return -1

    def median_time(self, bhash: str) -> int:
        times: list[int] = []
        cur: str | None = bhash
        while cur is not None and len(times) < 11:
            times.append(self.blocks[cur].time)
            cur = self.blocks[cur].parent
        return sorted(times)[len(times) // 2]

    def header_json(self, block: SimBlock) -> dict[str, Any]:
        out: dict[str, Any] = {
            "hash": block.hash,
            "confirmations": self.confirmations(block.hash),
            "height": block.height,
            "version": int.from_bytes(block.header[:4], "little"),
            "versionHex": block.header[:4][::-1].hex(),
            "merkleroot": block.header[36:68][::-1].hex(),
            "time": block.time,
            "mediantime": self.median_time(block.hash),
            "nonce": block.nonce,
            "bits": f"{REGTEST_BITS:08x}",
            "difficulty": Decimal("4.656542373906925E-10"),
            "chainwork": f"{2 * (block.height + 1):064x}",
            "nTx": len(block.txs),
        }
        if block.parent:
            out["previousblockhash"] = block.parent
        nxt = block.height + 1
        if self.confirmations(block.hash) > 0 and nxt < len(self.best):
            out["nextblockhash"] = self.best[nxt]
        return out

    def tx_json(
        self, tx: Transaction, *, blockhash: str | None = None, with_fee: bool = False, with_prevout: bool = False
    ) -> dict[str, Any]:
        size, vsize, weight = tx_sizes(tx)
        vin: list[dict[str, Any]] = []
        value_in = 0
        for inp in tx.vin:
            if is_coinbase(tx):
                entry: dict[str, Any] = {"coinbase": inp.script_sig.data.hex()}
            else:
                entry = {
                    "txid": inp.txid.hex(),
                    "vout": inp.vout,
                    "scriptSig": {"asm": "", "hex": inp.script_sig.data.hex() if inp.script_sig else ""},
                }
                value_in += self._prevout_value(inp)
                if with_prevout:
                    prevout = self._prevout_json(inp)
                    if prevout is not None:
                        entry["prevout"] = prevout
            if inp.witness and inp.witness.items:
                entry["txinwitness"] = [item.hex() for item in inp.witness.items]
            entry["sequence"] = inp.sequence
            vin.append(entry)
        vout = []
        for n, out in enumerate(tx.vout):
            spk = out.script_pubkey
            vout.append({"value": _btc(out.value), "n": n, "scriptPubKey": _spk_json(spk)})
        out_json: dict[str, Any] = {
            "txid": tx.txid().hex(),
            "hash": wtxid(tx)[::-1].hex(),
            "version": tx.version,
            "size": size,
            "vsize": vsize,
            "weight": weight,
            "locktime": tx.locktime,
            "vin": vin,
            "vout": vout,
        }
        if with_fee and not is_coinbase(tx):
            out_json["fee"] = _btc(value_in - sum(o.value for o in tx.vout))
        if blockhash:
            out_json["blockhash"] = blockhash
            out_json["confirmations"] = max(self.confirmations(blockhash), 0)
            out_json["time"] = out_json["blocktime"] = self.blocks[blockhash].time
        out_json["hex"] = tx.serialize().hex()
        return out_json

    def _prevout_json(self, inp: TransactionInput) -> dict[str, Any] | None:
        """Core's ``prevout`` object (getblock verbosity 3, getrawtransaction verbosity 2)."""
        txid = inp.txid.hex()
        tx = self.find_tx(txid)
        if tx is None or inp.vout >= len(tx.vout):
            return None
        bhash = self.tx_block.get(txid)
        out = tx.vout[inp.vout]
        return {
            "generated": is_coinbase(tx),
            "height": self.blocks[bhash].height if bhash else self.tip_height() + 1,
            "value": _btc(out.value),
            "scriptPubKey": _spk_json(out.script_pubkey),
        }

    def _prevout_value(self, inp: TransactionInput) -> int:
        txid = inp.txid.hex()
        tx = self.find_tx(txid)
        return tx.vout[inp.vout].value if tx is not None else 0

    def find_tx(self, txid: str) -> Transaction | None:
        if txid in self.mempool:
            return self.mempool[txid].tx
        bhash = self.tx_block.get(txid)
        if bhash is None:
            return None
        return next(t for t in self.blocks[bhash].txs if t.txid().hex() == txid)


from embit.networks import NETWORKS  # noqa: E402

REGTEST = NETWORKS["regtest"]


def _spk_json(spk: Script) -> dict[str, Any]:
    sj: dict[str, Any] = {"hex": spk.data.hex(), "type": script_type(spk.data)}
    try:
        sj["address"] = spk.address(REGTEST)
    except Exception:  # noqa: BLE001 - scripts without an address form  # nosec B110 # a script without an address form is skipped
        pass
    return sj


def _btc(sat: int) -> Decimal:
    return (Decimal(sat) / COIN).quantize(Decimal("0.00000001"))


_AMOUNT = re.compile(r'"\\u0000(-?[0-9.E+-]+)\\u0000"')


def dumps(obj: Any) -> str:
    """JSON with Decimals written as plain numbers (Core writes amounts as 0.00100000)."""

    def default(o: Any) -> Any:
        if isinstance(o, Decimal):
            return f"\x00{o}\x00"
        raise TypeError(type(o))

    return _AMOUNT.sub(r"\1", json.dumps(obj, default=default))


def _decode_tx(hexstring: Any) -> Transaction:
    try:
        tx = Transaction.parse(bytes.fromhex(str(hexstring)))
    except Exception:  # noqa: BLE001 - anything unparsable is Core's "TX decode failed"
        raise RPCError(-22, "TX decode failed. Make sure the tx has at least one input.") from None
    return tx


def _spk_for(address: Any) -> bytes:
    try:
        script = address_to_scriptpubkey(str(address))
        if not str(address).startswith("bcrt1") and str(address)[:1] not in ("m", "n", "2"):
            raise ValueError("not a regtest address")
    except Exception:  # noqa: BLE001
        raise RPCError(-5, "Error: Invalid address") from None
    return script.data  # type: ignore[no-any-return]


class BitcoinSimulator:
    """The HTTP JSON-RPC front of a ``RegtestNode`` (basic auth, single and batch requests, Core's shapes)."""

    def __init__(  # nosec B107 # the regtest simulator's fixed test login
        self,
        user: str = "braid",
        password: str = "braid",
        node: RegtestNode | None = None,
        *,
        state_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self.node = node or RegtestNode()
        self.user = user
        self.password = password
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.methods: dict[str, Callable[..., Any]] = {
            "getblockchaininfo": self._getblockchaininfo,
            "getblockcount": lambda: self.node.tip_height(),
            "getbestblockhash": lambda: self.node.best[-1],
            "getblockhash": self._getblockhash,
            "getblock": self._getblock,
            "getblockheader": self._getblockheader,
            "getrawtransaction": self._getrawtransaction,
            "sendrawtransaction": self._sendrawtransaction,
            "testmempoolaccept": self._testmempoolaccept,
            "getrawmempool": lambda verbose=False: list(self.node.mempool),
            "estimatesmartfee": self._estimatesmartfee,
            "generatetoaddress": self._generatetoaddress,
            "generateblock": self._generateblock,
            "invalidateblock": self._invalidateblock,
            "reconsiderblock": self._reconsiderblock,
            "simminebranch": self._simminebranch,
            "gettxout": self._gettxout,
            "scantxoutset": self._scantxoutset,
        }
        self.state_file = state_file
        self._saved_seq = 0
        if state_file is not None:
            self._load(state_file)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application()
        app.router.add_post("/", self._handle)
        app.router.add_post("/wallet/{name}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        sock = site._server.sockets[0]  # type: ignore[union-attr]
        self.url = f"http://{host}:{sock.getsockname()[1]}/"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="jsonrpc"'})
        try:
            body = json.loads(await request.text(), parse_float=Decimal)
        except ValueError:
            return web.Response(
                status=500,
                text=dumps({"result": None, "id": None, "error": {"code": -32700, "message": "Parse error"}}),
            )
        if isinstance(body, list):
            answers = [self._one(item)[1] for item in body]
            return web.Response(status=200, text=dumps(answers), content_type="application/json")
        status, answer = self._one(body)
        return web.Response(status=status, text=dumps(answer), content_type="application/json")

    def _one(self, req: Any) -> tuple[int, dict[str, Any]]:
        rid = req.get("id") if isinstance(req, dict) else None
        method = req.get("method") if isinstance(req, dict) else None
        params = req.get("params") or [] if isinstance(req, dict) else []
        fn = self.methods.get(str(method))
        if fn is None:
            return 404, {"result": None, "error": {"code": -32601, "message": "Method not found"}, "id": rid}
        try:
            result = fn(*params) if isinstance(params, list) else fn(**params)
        except RPCError as exc:
            return 500, {"result": None, "error": {"code": exc.code, "message": exc.message}, "id": rid}
        except TypeError as exc:
            return 500, {"result": None, "error": {"code": -1, "message": str(exc)}, "id": rid}
        if self.state_file is not None:
            self._save_new_blocks()
        return 200, {"result": result, "error": None, "id": rid}

    def mine(self, nblocks: int, address: str) -> list[str]:
        """Mine ``nblocks`` blocks paying ``address`` (the mempool goes into the first); saved if persistent."""
        hashes = self._generatetoaddress(nblocks, address)
        if self.state_file is not None:
            self._save_new_blocks()
        return hashes

    # -- persistence (``braid serve``'s dev chain keeps its blocks across restarts, as bitcoind's datadir) ----
    def _load(self, path: str | os.PathLike[str]) -> None:
        p = Path(path)
        if not p.exists():
            return
        for line in p.read_text().split():
            block = self.node.block_from_raw(bytes.fromhex(line))
            self.node.blocks.setdefault(block.hash, block)
        self.node.activate()
        self._saved_seq = max(b.seq for b in self.node.blocks.values())

    def _save_new_blocks(self) -> None:
        assert self.state_file is not None
        new = sorted(
            (b for b in self.node.blocks.values() if b.seq > self._saved_seq and b.height > 0), key=lambda b: b.seq
        )
        if not new:
            return
        with open(self.state_file, "a") as f:
            for block in new:
                f.write(block.raw().hex() + "\n")
            f.flush()
            os.fsync(f.fileno())
        self._saved_seq = new[-1].seq

    # -- methods -------------------------------------------------------------------------------------------
    def _getblockchaininfo(self) -> dict[str, Any]:
        tip = self.node.blocks[self.node.best[-1]]
        return {
            "chain": "regtest",
            "blocks": tip.height,
            "headers": tip.height,
            "bestblockhash": tip.hash,
            "difficulty": Decimal("4.656542373906925E-10"),
            "time": tip.time,
            "mediantime": self.node.median_time(tip.hash),
            "verificationprogress": 1,
            "initialblockdownload": False,
            "chainwork": f"{2 * (tip.height + 1):064x}",
            "size_on_disk": 0,
            "pruned": False,
            "warnings": "",
        }

    def _getblockhash(self, height: Any) -> str:
        if not isinstance(height, int) or not 0 <= height < len(self.node.best):
            raise RPCError(-8, "Block height out of range")
        return self.node.best[height]

    def _block(self, bhash: Any) -> SimBlock:
        block = self.node.blocks.get(str(bhash))
        if block is None:
            raise RPCError(-5, "Block not found")
        return block

    def _getblockheader(self, bhash: Any, verbose: bool = True) -> Any:
        block = self._block(bhash)
        return self.node.header_json(block) if verbose else block.header.hex()

    def _getblock(self, bhash: Any, verbosity: Any = 1) -> Any:
        block = self._block(bhash)
        if verbosity in (0, False):
            return block.raw().hex()
        out = self.node.header_json(block)
        raw = block.raw()
        stripped = (
            len(block.header)
            + len(_compact(len(block.txs)))
            + sum((weight - full) // 3 for full, _, weight in map(tx_sizes, block.txs))
        )
        out["size"] = len(raw)
        out["strippedsize"] = stripped
        out["weight"] = stripped * 3 + len(raw)
        if verbosity in (2, 3):
            out["tx"] = [self.node.tx_json(tx, with_fee=True, with_prevout=verbosity == 3) for tx in block.txs]
        else:
            out["tx"] = [tx.txid().hex() for tx in block.txs]
        return out

    def _getrawtransaction(self, txid: Any, verbose: Any = False, blockhash: Any = None) -> Any:
        tx = self.node.find_tx(str(txid))
        if tx is None:
            raise RPCError(-5, "No such mempool or blockchain transaction. Use gettransaction for wallet transactions.")
        if not verbose:
            return tx.serialize().hex()
        # verbosity 2 (Core 25+) adds each input's prevout
        return self.node.tx_json(tx, blockhash=self.node.tx_block.get(str(txid)), with_prevout=verbose == 2)

    def _sendrawtransaction(self, hexstring: Any, maxfeerate: Any = None) -> str:
        rate = MAX_FEERATE_SAT_PER_KVB if maxfeerate is None else int(Decimal(str(maxfeerate)) * COIN)
        return self.node.accept(_decode_tx(hexstring), rate)

    def _testmempoolaccept(self, rawtxs: Any, maxfeerate: Any = None) -> list[dict[str, Any]]:
        out = []
        for raw in rawtxs:
            tx = _decode_tx(raw)
            entry: dict[str, Any] = {"txid": tx.txid().hex(), "wtxid": wtxid(tx)[::-1].hex()}
            if entry["txid"] in self.node.mempool:
                entry.update(allowed=False, **{"reject-reason": "txn-already-in-mempool"})
            else:
                try:
                    fee, vsize = self.node.check(tx)
                    entry.update(allowed=True, vsize=vsize, fees={"base": _btc(fee)})
                except RPCError as exc:
                    entry.update(allowed=False, **{"reject-reason": exc.message})
            out.append(entry)
        return out

    def _estimatesmartfee(self, conf_target: Any, estimate_mode: Any = "conservative") -> dict[str, Any]:
        if not isinstance(conf_target, int) or not 1 <= conf_target <= 1008:
            raise RPCError(-8, "Invalid conf_target, must be between 1 and 1008")
        return {"feerate": self.node.fee_rate_btc_kvb, "blocks": max(conf_target, 2)}

    def _generatetoaddress(self, nblocks: Any, address: Any, maxtries: Any = None) -> list[str]:
        spk = _spk_for(address)
        return [self.node.mine(spk) for _ in range(int(nblocks))]

    def _generateblock(self, output: Any, transactions: Any, submit: Any = True) -> dict[str, Any]:
        spk = _spk_for(output)
        txs: list[Transaction] = []
        for item in transactions:
            item = str(item)
            if len(item) == 64 and item in self.node.mempool:
                txs.append(self.node.mempool[item].tx)
            elif len(item) == 64:
                raise RPCError(-5, f"Transaction {item} not in mempool.")
            else:
                tx = _decode_tx(item)
                self.node.accept(tx)
                txs.append(tx)
        return {"hash": self.node.mine(spk, txs)}

    def _invalidateblock(self, bhash: Any) -> None:
        self.node.invalidate(str(bhash))

    def _reconsiderblock(self, bhash: Any) -> None:
        self.node.reconsider(str(bhash))

    def _gettxout(self, txid: Any, n: Any, include_mempool: Any = True) -> dict[str, Any] | None:
        point = (str(txid), int(n))
        if include_mempool and any(
            (i.txid.hex(), i.vout) == point for e in self.node.mempool.values() for i in e.tx.vin
        ):
            return None  # spent by a mempool transaction
        coin = self.node.utxo.get(point)
        confirmations = 0
        if coin is not None:
            confirmations = self.node.tip_height() - coin.height + 1
        elif include_mempool and point[0] in self.node.mempool and point[1] < len(self.node.mempool[point[0]].tx.vout):
            coin = Coin(self.node.mempool[point[0]].tx.vout[point[1]], self.node.tip_height() + 1, False)
        if coin is None:
            return None
        return {
            "bestblock": self.node.best[-1],
            "confirmations": confirmations,
            "value": _btc(coin.out.value),
            "scriptPubKey": _spk_json(coin.out.script_pubkey),
            "coinbase": coin.coinbase,
        }

    def _scantxoutset(self, action: Any, scanobjects: Any = None) -> dict[str, Any]:
        if action != "start":
            raise RPCError(-8, "Invalid action, only 'start' is simulated")
        wanted: dict[bytes, str] = {}
        for item in scanobjects or []:
            desc = item["desc"] if isinstance(item, dict) else str(item)
            if not (desc.startswith("addr(") and desc.endswith(")")):
                raise RPCError(-5, f"only addr(...) descriptors are simulated, got {desc!r}")
            wanted[_spk_for(desc[5:-1])] = desc
        unspents = []
        total = 0
        for (txid, n), coin in self.node.utxo.items():
            desc = wanted.get(coin.out.script_pubkey.data)
            if desc is None:
                continue
            total += coin.out.value
            unspents.append(
                {
                    "txid": txid,
                    "vout": n,
                    "scriptPubKey": coin.out.script_pubkey.data.hex(),
                    "desc": desc,
                    "amount": _btc(coin.out.value),
                    "coinbase": coin.coinbase,
                    "height": coin.height,
                }
            )
        return {
            "success": True,
            "txouts": len(self.node.utxo),
            "height": self.node.tip_height(),
            "bestblock": self.node.best[-1],
            "unspents": unspents,
            "total_amount": _btc(total),
        }

    def _simminebranch(self, parent: Any, nblocks: Any, address: Any) -> list[str]:
        spk = _spk_for(address)
        cur = self._block(parent).hash
        out = []
        for _ in range(int(nblocks)):
            cur = self.node.mine(spk, [], parent=cur)
            out.append(cur)
        return out


async def serve_forever(host: str, port: int, user: str, password: str, on_start: Callable[[str], None]) -> None:
    sim = BitcoinSimulator(user, password)
    url = await sim.start(host, port)
    on_start(url)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()
