"""Local dev chains for ``braid serve`` and ``braid wallet dev-send``: the Bitcoin regtest simulator (in the
serving process; Bitcoin Core cannot be installed here) and one anvil per EVM network (from npm), each mining
on an interval and keeping its blocks across restarts in ``<state_dir>``.

A fresh chain is prepared once: the simulator mines 101 blocks to the dev faucet key (coinbases mature after
100), each anvil gets the test token (``BraidTestToken``, symbol USDT, 6 decimals) deployed from its first dev
account. What another process needs to reach them (URLs, token contracts) is written to
``<state_dir>/devchains.json``. The faucet key and anvil's accounts are public test keys: never on a real chain.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog
from embit import ec
from embit.networks import NETWORKS
from embit.script import Witness, address_to_scriptpubkey, p2pkh_from_p2wpkh, p2wpkh
from embit.transaction import SIGHASH, Transaction, TransactionInput, TransactionOutput
from web3 import AsyncHTTPProvider, AsyncWeb3

from wallets.chains.bitcoin import COIN, BitcoinRPC, btc_to_sat
from wallets.chains.devchain import Anvil, ToolsUnavailable, deploy_token

log = structlog.get_logger(__name__)

INFO_FILE = "devchains.json"
BTC_USER = BTC_PASSWORD = "braid-dev"  # nosec B105 # the local dev network's fixed test login
COINBASE_MATURITY = 100
IDLE_BLOCKS = 100  # a dev chain mines this many blocks after its last transaction, then waits for one
FEE_SAT = 1_000  # a dev transfer's fee (well above the simulator's relay minimum for a 1-2 input spend)
TOKEN_SYMBOL = "USDT"  # nosec B105 # a token symbol, not a secret
TOKEN_DECIMALS = 6
NATIVE = {"ETH": "ETH", "BSC": "BNB"}


class DevChainError(RuntimeError):
    """A dev-chain action that cannot be done (no dev chains, faucet empty, unknown network)."""


def faucet_key() -> ec.PrivateKey:
    return ec.PrivateKey(hashlib.sha256(b"braid dev faucet (public test key)").digest())


def faucet_address() -> str:
    return str(p2wpkh(faucet_key().get_public_key()).address(NETWORKS["regtest"]))


@dataclass
class EvmDevChain:
    url: str
    chain_id: int
    token: str  # the deployed BraidTestToken (USDT)


@dataclass
class DevChainInfo:
    """What ``devchains.json`` holds."""

    btc_url: str = ""
    btc_user: str = BTC_USER
    btc_password: str = BTC_PASSWORD
    evm: dict[str, EvmDevChain] = field(default_factory=dict)
    hot_funded: dict[str, str] = field(default_factory=dict)  # network -> hot address funded

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> DevChainInfo:
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            raise DevChainError(f"no dev chains at {path}: start `braid serve` (dev chains on) first") from None
        doc["evm"] = {k: EvmDevChain(**v) for k, v in doc.get("evm", {}).items()}
        return cls(**doc)


class DevChains:
    """Starts and stops the dev chains of ``networks`` ("BTC", "ETH", "BSC")."""

    def __init__(
        self,
        state_dir: Path,
        networks: list[str],
        *,
        chain_ids: dict[str, int],
        block_time_s: int = 1,
        ports: dict[str, int] | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.networks = networks
        self.chain_ids = chain_ids
        self.block_time_s = block_time_s
        self.ports = ports or {}
        self.info = DevChainInfo()
        self.anvils: dict[str, Anvil] = {}
        self.btc: Any = None  # the BitcoinSimulator
        self._miner: asyncio.Task[None] | None = None
        self._miners: list[asyncio.Task[None]] = []

    @property
    def info_file(self) -> Path:
        return self.state_dir / INFO_FILE

    async def start(self) -> DevChainInfo:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(DevChainError):
            self.info = DevChainInfo.load(self.info_file)  # keeps hot_funded and the token addresses
        if "BTC" in self.networks:
            await self._start_btc()
        for net in ("ETH", "BSC"):
            if net in self.networks:
                try:
                    await self._start_evm(net)
                except ToolsUnavailable as exc:  # no npm here: serve on without this chain
                    log.warning("dev chain not started", network=net, reason=str(exc))
                    self.networks = [n for n in self.networks if n != net]
        self.info.evm = {n: c for n, c in self.info.evm.items() if n in self.anvils}  # only what runs now
        if self.btc is None:
            self.info.btc_url = ""
        self.info.save(self.info_file)
        log.info("dev chains started", networks=self.networks, info=str(self.info_file))
        return self.info

    async def _start_btc(self) -> None:
        from wallets.chains.simulators import BitcoinSimulator

        sim = BitcoinSimulator(BTC_USER, BTC_PASSWORD, state_file=self.state_dir / "btc-blocks.hex")
        self.btc = sim
        self.info.btc_url = await sim.start("127.0.0.1", self.ports.get("BTC", 0))
        if sim.node.tip_height() < COINBASE_MATURITY + 1:
            sim.mine(COINBASE_MATURITY + 1 - sim.node.tip_height(), faucet_address())
        self._miner = asyncio.get_running_loop().create_task(self._mine_btc())

    async def _mine_btc(self) -> None:
        """A block every ``block_time_s`` while there is something to confirm: a transaction in the mempool, or
        one mined within the last ``IDLE_BLOCKS`` blocks (deep enough for every threshold); an idle chain stops
        growing (its file and the simulator's per-block work stay small)."""
        idle = 0
        while True:
            await asyncio.sleep(self.block_time_s)
            if self.btc.node.mempool:
                idle = 0
            elif idle >= IDLE_BLOCKS:
                continue
            else:
                idle += 1
            self.btc.mine(1, faucet_address())

    async def _start_evm(self, net: str) -> None:
        chain_id = self.chain_ids[net]
        state = self.state_dir / f"anvil-{net.lower()}.json"
        anvil = Anvil(
            chain_id,
            port=self.ports.get(net, 0),
            # mines each transaction at once; keeps past states across restarts (sweeps read deep balances)
            extra_args=["--state", str(state), "--state-interval", "1", "--preserve-historical-states"],
        )
        await asyncio.to_thread(anvil.start)
        self.anvils[net] = anvil
        known = self.info.evm.get(net)
        w3 = AsyncWeb3(AsyncHTTPProvider(anvil.url))
        try:
            token = known.token if known else ""
            if not token or not await w3.eth.get_code(AsyncWeb3.to_checksum_address(token)):
                sender = (await w3.eth.accounts)[0]
                token = (await deploy_token(w3, sender, symbol=TOKEN_SYMBOL)).address
        finally:
            await w3.provider.disconnect()
        self.info.evm[net] = EvmDevChain(anvil.url, chain_id, token)
        self._miners.append(asyncio.get_running_loop().create_task(self._mine_evm(anvil.url)))

    async def _mine_evm(self, url: str) -> None:
        """Empty blocks every ``block_time_s`` after a block with transactions (anvil mines each one at once),
        up to ``IDLE_BLOCKS``, so deposits and withdrawals reach their confirmations; then the chain rests."""
        w3 = AsyncWeb3(AsyncHTTPProvider(url))
        idle = IDLE_BLOCKS
        try:
            seen = int(await w3.eth.block_number)
            while True:
                await asyncio.sleep(self.block_time_s)
                try:
                    tip = int(await w3.eth.block_number)
                    for height in range(seen + 1, tip + 1):
                        if (await w3.eth.get_block(height))["transactions"]:
                            idle = 0
                    if idle < IDLE_BLOCKS:
                        await w3.provider.make_request("evm_mine", [])
                        idle += 1
                        tip += 1
                    seen = tip
                except Exception as exc:  # noqa: BLE001 - a dev node hiccup: try again at the next tick
                    log.warning("dev chain miner", url=url, error=repr(exc))
        finally:
            await w3.provider.disconnect()

    async def fund_hot(self, hot: dict[str, str], amounts: dict[str, str]) -> None:
        """Pay the hot wallets once per chain (``hot``: network -> address; ``amounts``: coin -> amount)."""
        for net, address in hot.items():
            if net not in self.networks or self.info.hot_funded.get(net) == address:
                continue
            native = "BTC" if net == "BTC" else NATIVE[net]
            if native in amounts:
                await dev_send(self.info, net, address, Decimal(amounts[native]))
            if net != "BTC" and TOKEN_SYMBOL in amounts:
                await dev_send(self.info, net, address, Decimal(amounts[TOKEN_SYMBOL]), coin=TOKEN_SYMBOL)
            self.info.hot_funded[net] = address
            log.info("dev hot wallet funded", network=net, address=address)
        self.info.save(self.info_file)

    async def stop(self) -> None:
        for task in [self._miner, *self._miners]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self.btc is not None:
            await self.btc.stop()
        for anvil in self.anvils.values():
            await asyncio.to_thread(anvil.stop)


async def dev_send(info: DevChainInfo, network: str, to: str, amount: Decimal, *, coin: str | None = None) -> str:
    """Send ``amount`` (whole coins) to ``to`` on a dev chain from its faucet; the txid."""
    net = network.upper()
    if net == "BTC":
        if coin not in (None, "BTC"):
            raise DevChainError("only BTC is sent on the BTC dev chain")
        if not info.btc_url:
            raise DevChainError("the BTC dev chain is not running")
        return await _send_btc(info, to, btc_to_sat(amount))
    chain = info.evm.get(net)
    if chain is None:
        raise DevChainError(
            f"no {net} dev chain (dev chains: {', '.join(['BTC'] * bool(info.btc_url) + list(info.evm))})"
        )
    w3 = AsyncWeb3(AsyncHTTPProvider(chain.url))
    try:
        sender = (await w3.eth.accounts)[0]
        dest = AsyncWeb3.to_checksum_address(to)
        if coin in (None, NATIVE[net]):
            tx_hash = await w3.eth.send_transaction({"from": sender, "to": dest, "value": w3.to_wei(amount, "ether")})
        elif coin == TOKEN_SYMBOL:
            units = amount.scaleb(TOKEN_DECIMALS)
            if units != units.to_integral_value():
                raise DevChainError(f"{TOKEN_SYMBOL} has {TOKEN_DECIMALS} decimals")
            data = bytes.fromhex("a9059cbb") + bytes(12) + bytes.fromhex(dest[2:]) + int(units).to_bytes(32, "big")
            tx_hash = await w3.eth.send_transaction(
                {"from": sender, "to": AsyncWeb3.to_checksum_address(chain.token), "data": data}
            )
        else:
            raise DevChainError(f"{coin} is not on the {net} dev chain ({NATIVE[net]} or {TOKEN_SYMBOL})")
        return "0x" + bytes(tx_hash).hex()
    finally:
        await w3.provider.disconnect()


async def _send_btc(info: DevChainInfo, to: str, sat: int) -> str:
    key = faucet_key()
    spk = p2wpkh(key.get_public_key())
    async with BitcoinRPC(info.btc_url, info.btc_user, info.btc_password) as rpc:
        tip = await rpc.getblockcount()
        found = await rpc.call("scantxoutset", "start", [f"addr({faucet_address()})"])
        coins = []
        for u in sorted(found["unspents"], key=lambda u: u["height"]):
            if u["coinbase"] and tip + 1 - u["height"] < COINBASE_MATURITY:
                continue
            if await rpc.call("gettxout", u["txid"], u["vout"], True) is None:
                continue  # spent by a transaction still in the mempool
            coins.append((u["txid"], int(u["vout"]), btc_to_sat(u["amount"])))
        chosen, total = [], 0
        for c in coins:
            chosen.append(c)
            total += c[2]
            if total >= sat + FEE_SAT:
                break
        if total < sat + FEE_SAT:
            raise DevChainError(f"the BTC dev faucet holds {Decimal(total) / COIN} BTC spendable, not enough")
        outputs = [TransactionOutput(sat, address_to_scriptpubkey(to))]
        if total - sat - FEE_SAT > 0:
            outputs.append(TransactionOutput(total - sat - FEE_SAT, spk))
        tx = Transaction(version=2, vin=[TransactionInput(bytes.fromhex(t), n) for t, n, _ in chosen], vout=outputs)
        for i, (_, _, value) in enumerate(chosen):
            digest = tx.sighash_segwit(i, p2pkh_from_p2wpkh(spk), value, sighash=SIGHASH.ALL)
            tx.vin[i].witness = Witness(
                [key.sign(digest).serialize() + bytes([SIGHASH.ALL]), key.get_public_key().sec()]
            )
        return await rpc.sendrawtransaction(tx.serialize().hex())
