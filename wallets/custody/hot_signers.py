"""The hot signers withdrawals use (``Withdrawals(signers=...)``).

``EvmHotSigner`` builds the transfer (native value, or an ERC-20/BEP-20 ``transfer`` call), takes nonce and gas
price from the node and signs with the hot key (``sign_hot_evm``). ``BtcHotSigner`` selects the hot wallet's
confirmed coins that no mempool transaction spends yet (largest first), pays the destination, returns the
change to the hot address, and signs every P2WPKH input (``sign_hot_btc``); the fee comes from the node's
``estimatesmartfee``. Whatever the hot wallet cannot cover waits for the cold 2-of-3 path (``waiting_cold``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from embit.transaction import Transaction
from eth_utils.crypto import keccak

from config.custody import CoinNetwork
from wallets.custody.amounts import to_base_units
from wallets.custody.btc import HotInput, UnsignedBtcTx, sign_hot_btc
from wallets.custody.coins import Coins, from_base_units
from wallets.custody.errors import CustodyError
from wallets.custody.evm import sign_hot_evm, transfer_data, unsigned_tx
from wallets.custody.keyfile import Sealer
from wallets.custody.public import PublicWallets
from wallets.custody.withdrawals import SignedTx, Withdrawal

NATIVE_GAS = 21_000
TOKEN_GAS = 100_000
# P2WPKH sizes in virtual bytes: overhead (with the segwit marker), per input, per output.
TX_VBYTES, INPUT_VBYTES, OUTPUT_VBYTES = 11, 68, 31
DUST_SAT = 294  # a P2WPKH output below this is dust to Core's relay policy: it goes to the fee instead


class EvmNode(Protocol):
    async def nonce(self, network: str, address: str) -> int:
        """The address's next nonce, counting the mempool."""

    async def gas_price(self, network: str) -> int: ...

    async def balance(self, network: str, address: str, token: str | None) -> int:
        """The address's balance in base units of the native coin, or of the token contract."""


class EvmHotSigner:
    def __init__(
        self,
        node: EvmNode,
        public: PublicWallets,
        coins: Coins,
        hot_key_file: str | os.PathLike[str],
        sealer: Sealer,
        chain_ids: dict[str, int],
    ) -> None:
        self.node = node
        self.public = public
        self.coins = coins
        self.hot_key_file = hot_key_file
        self.sealer = sealer
        self.chain_ids = chain_ids

    def hot_address(self, network: str) -> str:
        return self.public.hot_address(network)  # type: ignore[arg-type]

    async def capacity(self, network: str, coin: str) -> Decimal:
        c = self.coins.require(network, coin)
        units = await self.node.balance(network, self.hot_address(network), c.contract)
        return from_base_units(units, c.decimals)

    async def sign(self, w: Withdrawal, coin: CoinNetwork) -> SignedTx:
        units = to_base_units(w.amount, coin.decimals)
        sender = self.hot_address(w.network)
        nonce = await self.node.nonce(w.network, sender)
        gas_price = await self.node.gas_price(w.network)
        if coin.contract:
            tx = unsigned_tx(
                chain_id=self.chain_ids[w.network],
                nonce=nonce,
                to=coin.contract,
                data=transfer_data(w.address, units),
                gas=TOKEN_GAS,
                gas_price=gas_price,
            )
        else:
            tx = unsigned_tx(
                chain_id=self.chain_ids[w.network],
                nonce=nonce,
                to=w.address,
                value_wei=units,
                gas=NATIVE_GAS,
                gas_price=gas_price,
            )
        raw = sign_hot_evm(tx, w.network, self.hot_key_file, self.sealer)
        return SignedTx(raw, "0x" + keccak(raw).hex())


class BtcCoin(Protocol):
    @property
    def txid(self) -> str: ...

    @property
    def vout(self) -> int: ...

    @property
    def value_sat(self) -> int: ...


class BtcNode(Protocol):
    async def utxos(self, addresses: Sequence[str]) -> Sequence[BtcCoin]:
        """Confirmed unspent outputs of ``addresses`` that no mempool transaction spends."""

    async def fee_rate_sat_vb(self) -> int: ...

    async def unspent(self, txid: str, vout: int) -> int | None:
        """The output's satoshi if unspent (a mempool output counts), else None."""


@dataclass(frozen=True, slots=True)
class _Change:
    txid: str
    vout: int
    value_sat: int


def btc_fee(inputs: int, outputs: int, rate_sat_vb: int) -> int:
    return (TX_VBYTES + INPUT_VBYTES * inputs + OUTPUT_VBYTES * outputs) * rate_sat_vb


class BtcHotSigner:
    """Pays BTC withdrawals from the hot wallet's first address (``<hot account>/0/0``), change back to it."""

    def __init__(
        self,
        node: BtcNode,
        public: PublicWallets,
        hot_key_file: str | os.PathLike[str],
        sealer: Sealer,
    ) -> None:
        self.node = node
        self.public = public
        self.hot_key_file = hot_key_file
        self.sealer = sealer
        # Change of our own transactions not yet in a block: spendable at once (the node's mempool chains them),
        # so a second withdrawal in the same block interval is not pushed to the cold path.
        self._change: dict[tuple[str, int], int] = {}

    @property
    def hot_address(self) -> str:
        return self.public.hot_address("BTC")

    async def _coins(self) -> list[BtcCoin]:
        coins: list[BtcCoin] = list(await self.node.utxos([self.hot_address]))
        confirmed = {(c.txid, c.vout) for c in coins}
        for point, value in list(self._change.items()):
            if point in confirmed or await self.node.unspent(*point) is None:
                del self._change[point]  # in a block now (listed above), or spent / dropped
            else:
                coins.append(_Change(point[0], point[1], value))
        return coins

    async def capacity(self, network: str, coin: str) -> Decimal:
        """What one withdrawal could pay now: every spendable hot coin, less the fee of spending them all."""
        coins = await self._coins()
        if not coins:
            return Decimal(0)
        total = sum(c.value_sat for c in coins) - btc_fee(len(coins), 2, await self.node.fee_rate_sat_vb())
        return from_base_units(max(total, 0), 8)

    async def sign(self, w: Withdrawal, coin: CoinNetwork) -> SignedTx:
        amount = to_base_units(w.amount, 8)
        rate = await self.node.fee_rate_sat_vb()
        chosen: list[BtcCoin] = []
        total = 0
        for c in sorted(await self._coins(), key=lambda c: (-c.value_sat, c.txid, c.vout)):
            chosen.append(c)
            total += c.value_sat
            if total >= amount + btc_fee(len(chosen), 2, rate):
                break
        fee = btc_fee(len(chosen), 2, rate)
        if total < amount + fee:
            raise CustodyError(f"hot wallet holds {total} sat, the withdrawal needs {amount} + fee {fee}")
        outputs: list[tuple[str, int]] = [(w.address, amount)]
        change = total - amount - fee
        if change >= DUST_SAT:
            outputs.append((self.hot_address, change))
        unsigned = UnsignedBtcTx(tuple(HotInput(c.txid, c.vout, c.value_sat) for c in chosen), tuple(outputs))
        raw = sign_hot_btc(unsigned, self.hot_key_file, self.sealer)
        txid = Transaction.parse(raw).txid().hex()
        if len(outputs) == 2:
            self._change[(txid, 1)] = change
        return SignedTx(raw, txid)
