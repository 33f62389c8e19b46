"""A child process for the SIGKILL withdrawal test: processes the approved BTC withdrawals with the real hot
signer against the simulator, and SIGKILLs itself around the broadcast of the first one: ``before_send`` (the
signed transaction is stored, the node never got it) or ``after_send`` (the node got it, Braid never recorded
the broadcast)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from config.custody import CustodyFlowSettings
from wallets import Wallets
from wallets.chains import BitcoinRPC
from wallets.chains.devnet import BTC_PASSWORD, BTC_USER
from wallets.chains.nodes import BitcoinNode
from wallets.custody import PublicWallets, Sealer
from wallets.custody.hot_signers import BtcHotSigner
from wallets.custody.withdrawals import Withdrawals

MASTER = bytes(range(32))  # tests.wallets.conftest.MASTER


class DiesAroundBroadcast:
    def __init__(self, node: BitcoinNode, where: str) -> None:
        self.node, self.where = node, where

    async def broadcast(self, network: str, raw: bytes) -> str:
        if self.where == "before_send":
            os.kill(os.getpid(), signal.SIGKILL)
        await self.node.broadcast(network, raw)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")

    async def lookup(self, network: str, txid: str) -> int | None:
        return await self.node.lookup(network, txid)


async def main(
    db_url: str, sim_url: str, public_file: str, hot_file: str, passphrase: str, flow: str, where: str
) -> None:
    w = Wallets.open(db_url, master_key=MASTER)
    await w.start()
    public = PublicWallets.load(public_file)
    node = BitcoinNode(BitcoinRPC(sim_url, BTC_USER, BTC_PASSWORD))
    signer = BtcHotSigner(node, public, hot_file, Sealer(passphrase=passphrase))
    chain = DiesAroundBroadcast(node, where)
    settings = CustodyFlowSettings.model_validate_json(flow)
    wd = Withdrawals(w.store, w.ledger, settings, btc=public.btc, chains={"BTC": chain}, signers={"BTC": signer})
    await wd.process()
    raise AssertionError("the child should have died around the broadcast")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:8]))
