"""Sweeps: deposits move from the clients' deposit addresses into the hot wallet, so the hot signer can pay
withdrawals out of what clients paid in.

Only coins at least the coin's ``unlock_confirmations`` deep are swept (a reorg above that depth would undo the
deposit, and the sweep with it). Bitcoin: one transaction spends every such output of every deposit address
to the hot address, each input signed with its deposit key (``sign_hot_btc``, wallet "deposit"). Ethereum and
BSC: each deposit address sends its native balance, less the gas, to the hot address (``sign_hot_evm``,
wallet "deposit"); one holding tokens (ERC-20/BEP-20) first gets the gas of a token transfer from the hot wallet
(a top-up, signed by the hot key), then, the next round, sends the tokens.

A sweep is not recorded before it is broadcast: it moves money between Braid's own addresses, and the chain
itself refuses a second spend of the same outputs (Bitcoin) or the same nonce (EVM), so a crash followed by a
new sweep cannot pay twice. A top-up uses the hot wallet's nonce, so sweeps run in the same loop as the hot
withdrawals (never between a withdrawal's signing and its broadcast).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Protocol

import structlog

from wallets.custody.btc import HotInput, UnsignedBtcTx, sign_hot_btc
from wallets.custody.coins import Coins
from wallets.custody.evm import sign_hot_evm, transfer_data, unsigned_tx
from wallets.custody.hot_signers import DUST_SAT, NATIVE_GAS, TOKEN_GAS, btc_fee
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
        """Each deposit address holding deep enough tokens: gas first (a top-up from the hot wallet when it has
        too little), their ``transfer`` to the hot wallet the round after; otherwise its native balance less
        the gas. Returns the txids sent."""
        node = self.evm[network]
        coin = self.coins.get(network, NATIVE[network])
        indexes = self.addresses.deposit_indexes(network)
        if coin is None or not indexes:
            return []
        tip = await node.tip_height()
        gas_price = await node.gas_price(network)
        hot = self.public.hot_address(network)  # type: ignore[arg-type]
        tokens = [c for c in self.coins.all if c.network == network and c.contract]
        sent = []
        for address, index in indexes.items():
            native = await node.balance(network, address, None, "pending")  # a sweep still pending spent it
            token_done = False
            for token in tokens:
                safe = tip - token.unlock_confirmations + 1
                if safe < 0 or token.contract is None:
                    continue
                units = min(
                    await node.balance(network, address, token.contract, safe),
                    await node.balance(network, address, token.contract, "pending"),
                )
                if units <= 0:
                    continue
                token_done = True  # the native balance stays for the gas
                if native < TOKEN_GAS * gas_price:
                    sent.append(await self._send(network, hot, address, TOKEN_GAS * gas_price - native, gas_price))
                    break  # the transfer goes out next round, when the gas is there
                sent.append(
                    await self._send(
                        network, address, token.contract, 0, gas_price, index, transfer_data(hot, units), TOKEN_GAS
                    )
                )
                native -= TOKEN_GAS * gas_price
            if token_done:
                continue
            safe = tip - coin.unlock_confirmations + 1
            if safe < 0:
                continue
            value = min(await node.balance(network, address, None, safe), native) - NATIVE_GAS * gas_price
            if value > 0:
                sent.append(await self._send(network, address, hot, value, gas_price, index))
        return sent

    async def _send(
        self,
        network: str,
        sender: str,
        to: str,
        value: int,
        gas_price: int,
        index: int | None = None,
        data: bytes = b"",
        gas: int = NATIVE_GAS,
    ) -> str:
        """Sign (the deposit key at ``index``, or the hot key when None) and broadcast; the txid."""
        node = self.evm[network]
        tx = unsigned_tx(
            chain_id=self.chain_ids[network],
            nonce=await node.nonce(network, sender),
            to=to,
            value_wei=value,
            data=data,
            gas=gas,
            gas_price=gas_price,
        )
        if index is None:
            raw = sign_hot_evm(tx, network, self.hot_key_file, self.sealer)
        else:
            raw = sign_hot_evm(tx, network, self.hot_key_file, self.sealer, wallet="deposit", index=index)
        txid = await node.broadcast(network, raw)
        what = "gas top-up" if index is None else ("token sweep" if data else "deposit swept")
        log.info(what, network=network, sender=sender, to=to, wei=value, txid=txid)
        return txid
