"""Sweeps: deposits move from the clients' deposit addresses into the hot wallet, so the hot signer can pay
withdrawals out of what clients paid in.

Only coins at least the coin's ``unlock_confirmations`` deep are swept (a reorg above that depth would undo the
deposit, and the sweep with it). Bitcoin: one transaction spends every such output of every deposit address
to the hot address, each input signed with its deposit key (``sign_hot_btc``, wallet "deposit"). Ethereum and
BSC: each deposit address sends its native balance, less the gas, to the hot address (``sign_hot_evm``,
wallet "deposit").

A sweep is not recorded before it is broadcast: it moves money between Braid's own addresses, and the chain
itself refuses a second spend of the same outputs (Bitcoin) or the same nonce (EVM), so a crash followed by a
new sweep cannot pay twice. Token (ERC-20/BEP-20) deposits need gas on the deposit address first (a top-up from
the hot wallet); they are not swept yet.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Protocol

import structlog

from wallets.custody.btc import HotInput, UnsignedBtcTx, sign_hot_btc
from wallets.custody.coins import Coins
from wallets.custody.evm import sign_hot_evm, unsigned_tx
from wallets.custody.hot_signers import DUST_SAT, NATIVE_GAS, btc_fee
from wallets.custody.keyfile import Sealer
from wallets.custody.public import PublicWallets

log = structlog.get_logger(__name__)

NATIVE = {"ETH": "ETH", "BSC": "BNB"}


class DepositIndexes(Protocol):
    def deposit_indexes(self, network: str) -> dict[str, int]:
        """Deposit address -> its derivation index, for every address handed out on ``network``."""


class SweepUtxo(Protocol):
    @property
    def txid(self) -> str: ...

    @property
    def vout(self) -> int: ...

    @property
    def value_sat(self) -> int: ...

    @property
    def address(self) -> str: ...

    @property
    def height(self) -> int: ...


class BtcSweepNode(Protocol):
    async def utxos(self, addresses: Sequence[str]) -> Sequence[SweepUtxo]: ...

    async def tip_height(self) -> int: ...

    async def fee_rate_sat_vb(self) -> int: ...

    async def broadcast(self, network: str, raw: bytes) -> str: ...


class EvmSweepNode(Protocol):
    async def tip_height(self) -> int: ...

    async def balance(self, network: str, address: str, token: str | None, block: int | str = "latest") -> int: ...

    async def nonce(self, network: str, address: str) -> int: ...

    async def gas_price(self, network: str) -> int: ...

    async def broadcast(self, network: str, raw: bytes) -> str: ...


class Sweeper:
    def __init__(
        self,
        public: PublicWallets,
        addresses: DepositIndexes,
        coins: Coins,
        hot_key_file: str | os.PathLike[str],
        sealer: Sealer,
        *,
        btc: BtcSweepNode | None = None,
        evm: Mapping[str, EvmSweepNode] | None = None,
        chain_ids: Mapping[str, int] | None = None,
    ) -> None:
        self.public = public
        self.addresses = addresses
        self.coins = coins
        self.hot_key_file = hot_key_file
        self.sealer = sealer
        self.btc = btc
        self.evm = dict(evm or {})
        self.chain_ids = dict(chain_ids or {})

    async def sweep(self) -> list[str]:
        """One round over every network with a node: the txids sent."""
        sent: list[str] = []
        if self.btc is not None:
            txid = await self.sweep_btc()
            if txid:
                sent.append(txid)
        for network in self.evm:
            sent.extend(await self.sweep_evm(network))
        return sent

    async def sweep_btc(self) -> str | None:
        assert self.btc is not None
        coin = self.coins.get("BTC", "BTC")
        indexes = self.addresses.deposit_indexes("BTC")
        if coin is None or not indexes:
            return None
        tip = await self.btc.tip_height()
        deep = [
            u
            for u in await self.btc.utxos(list(indexes))
            if u.address in indexes and tip - u.height + 1 >= coin.unlock_confirmations
        ]
        if not deep:
            return None
        total = sum(u.value_sat for u in deep)
        pay = total - btc_fee(len(deep), 1, await self.btc.fee_rate_sat_vb())
        if pay < DUST_SAT:
            return None
        hot = self.public.hot_address("BTC")
        inputs = tuple(
            HotInput(u.txid, u.vout, u.value_sat, wallet="deposit", change=0, index=indexes[u.address]) for u in deep
        )
        raw = sign_hot_btc(UnsignedBtcTx(inputs, ((hot, pay),)), self.hot_key_file, self.sealer)
        txid = await self.btc.broadcast("BTC", raw)
        log.info("deposits swept", network="BTC", inputs=len(deep), sat=pay, txid=txid)
        return txid

    async def sweep_evm(self, network: str) -> list[str]:
        node = self.evm[network]
        coin = self.coins.get(network, NATIVE[network])
        indexes = self.addresses.deposit_indexes(network)
        if coin is None or not indexes:
            return []
        safe_block = await node.tip_height() - coin.unlock_confirmations + 1
        if safe_block < 0:
            return []
        gas_price = await node.gas_price(network)
        hot = self.public.hot_address(network)  # type: ignore[arg-type]
        sent = []
        for address, index in indexes.items():
            deep = await node.balance(network, address, None, safe_block)
            now = await node.balance(network, address, None, "pending")  # a sweep still pending spent it
            value = min(deep, now) - NATIVE_GAS * gas_price
            if value <= 0:
                continue
            tx = unsigned_tx(
                chain_id=self.chain_ids[network],
                nonce=await node.nonce(network, address),
                to=hot,
                value_wei=value,
                gas=NATIVE_GAS,
                gas_price=gas_price,
            )
            raw = sign_hot_evm(tx, network, self.hot_key_file, self.sealer, wallet="deposit", index=index)
            txid = await node.broadcast(network, raw)
            log.info("deposit swept", network=network, address=address, wei=value, txid=txid)
            sent.append(txid)
        return sent
