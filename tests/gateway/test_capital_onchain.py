"""ccxt against Braid's capital endpoints with custody running on the BTC dev chain (the regtest simulator, as
`braid serve` starts it): the deposit address ccxt fetches is paid on chain, seen, confirmed and credited;
ccxt's withdrawal is approved, hot-signed, broadcast, confirmed and paid on chain."""

from __future__ import annotations

import asyncio
import hashlib
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import ccxt
import pytest
from embit import ec
from embit.networks import NETWORKS
from embit.script import p2wpkh

from config.chains import ChainsSettings, DevChainsSettings
from config.custody import CustodyFlowSettings, CustodySettings
from config.settings import Settings
from gateway.custody_runtime import start_custody
from tests.gateway.conftest import Server, ccxt_client
from tests.support import eventually_sync
from wallets.chains.devnet import dev_send


def test_ccxt_deposit_and_withdrawal_on_the_btc_dev_chain(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BRAID_WALLET_PASSPHRASE", raising=False)
    coins = [
        c.model_copy(update={"credit_confirmations": 2, "unlock_confirmations": 2}) for c in CustodyFlowSettings().coins
    ]
    settings = Settings(
        data_dir=str(tmp_path / "var"),
        database_url=server.db_url,
        database_schema=server.schema,
        env="development",
        chains=ChainsSettings(
            networks=["BTC"], withdrawals_interval_s=0.2, sweep_interval_s=0, dev=DevChainsSettings(block_time_s=1)
        ),
        custody=CustodySettings(flow=CustodyFlowSettings(coins=coins, whitelist_cooloff_s=0)),
    )
    runtime: Any = server.call(start_custody(settings, server.wallets, server.ctx))
    assert runtime is not None
    try:
        acct, key, secret = server.account("chain-alice", {})
        ex = ccxt_client(ccxt, server, key, secret)
        ex.load_markets()
        address = ex.fetch_deposit_address("BTC", {"network": "BTC"})["address"]
        asyncio.run(dev_send(runtime.devchains.info, "BTC", address, D("0.5")))
        eventually_sync(
            lambda: [d["status"] for d in ex.fetch_deposits("BTC")] == ["ok"], timeout=20, what="deposit credited"
        )
        [deposit] = ex.fetch_deposits("BTC")
        assert deposit["amount"] == 0.5 and deposit["address"] == address
        assert server.balance(acct, "BTC") == (D("0.5"), D(0))

        key_ = ec.PrivateKey(hashlib.sha256(b"capital dest").digest())
        dest = str(p2wpkh(key_.get_public_key()).address(NETWORKS["regtest"]))
        wd = runtime.custody.withdrawals
        server.call(wd.whitelist(acct, "BTC", dest))
        w = ex.withdraw("BTC", 0.2, dest, {"network": "BTC"})
        [pending] = ex.fetch_withdrawals("BTC")
        assert pending["status"] == "pending" and pending["info"]["status"] == 2  # awaiting approval (new address)
        for op in ("op1", "op2"):
            server.call(wd.approve(w["id"], op))
        eventually_sync(
            lambda: [x["status"] for x in ex.fetch_withdrawals("BTC")] == ["ok"], timeout=20, what="withdrawal done"
        )
        [done] = ex.fetch_withdrawals("BTC")
        assert done["txid"] and done["amount"] == 0.2
        assert server.call(runtime.nodes["BTC"].balances([dest])) == {dest: 20_000_000}  # paid on chain, once
        assert server.balance(acct, "BTC") == (D("0.2998"), D(0))  # 0.5 - 0.2 - 0.0002 fee
    finally:
        server.call(runtime.stop())
