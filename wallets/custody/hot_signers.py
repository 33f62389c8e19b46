"""The hot signer of the EVM networks for withdrawals: builds the transfer (native value, or an ERC-20/BEP-20
``transfer`` call), takes nonce and gas price from the node, signs with the hot key (``sign_hot_evm``).

Bitcoin hot withdrawals need the hot wallet's UTXOs from the chain client (coin selection); that signer is
not wired yet, so BTC withdrawals wait in ``approved`` until it is (the cold PSBT flow works for them).
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Protocol

from eth_utils.crypto import keccak

from config.custody import CoinNetwork
from wallets.custody.amounts import to_base_units
from wallets.custody.coins import Coins, from_base_units
from wallets.custody.evm import sign_hot_evm, transfer_data, unsigned_tx
from wallets.custody.keyfile import Sealer
from wallets.custody.public import PublicWallets
from wallets.custody.withdrawals import SignedTx, Withdrawal

NATIVE_GAS = 21_000
TOKEN_GAS = 100_000


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
