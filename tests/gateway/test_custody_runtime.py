"""What `braid serve` runs for custody on its embedded default, in-process: dev chains (the BTC regtest
simulator and anvil with the test USDT), a dev key ceremony, deposit watchers and the withdrawal loop.
A deposit to an address from the capital API's address book is seen (with its payer), confirmed and
credited; a BTC withdrawal is approved, hot-signed, broadcast and completed; the reserves report reads the
nodes; a restart resumes on the same chains without crediting or reversing anything twice."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_asyncio
from embit import ec
from embit.networks import NETWORKS
from embit.script import p2wpkh
from sqlalchemy import select

from config.chains import ChainsSettings, DevChainsSettings
from config.custody import CustodyFlowSettings, CustodySettings
from config.settings import Settings
from gateway.cli import build_parser
from gateway.custody_runtime import CustodyRuntime, start_custody
from gateway.wallet_commands import _holdings_from_nodes
from tests.support import eventually
from wallets import Wallets
from wallets.chains.devchain import anvil_path
from wallets.chains.devnet import dev_send, faucet_address
from wallets.chains.models import chain_observations
from wallets.custody import models
from wallets.custody.deposit_flow import deposit_history

pytestmark = pytest.mark.skipif(
    shutil.which("npm") is None and not anvil_path().exists() and not os.environ.get("CI"),
    reason="npm is not installed: anvil (Foundry) comes from the npm registry",
)


def _settings(tmp: Path) -> Settings:
    coins = [
        c.model_copy(update={"credit_confirmations": 2, "unlock_confirmations": 2}) for c in CustodyFlowSettings().coins
    ]
    return Settings(
        data_dir=str(tmp / "var"),
        env="development",
        chains=ChainsSettings(
            networks=["BTC", "ETH"],
            withdrawals_interval_s=0.2,
            sweep_interval_s=0,  # swept by hand below, so the amounts checked before stay put
            dev=DevChainsSettings(block_time_s=1),
        ),
        custody=CustodySettings(flow=CustodyFlowSettings(coins=coins, whitelist_cooloff_s=0)),
    )


@pytest_asyncio.fixture
async def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[dict[str, Any]]:
    monkeypatch.delenv("BRAID_WALLET_PASSPHRASE", raising=False)
    settings = _settings(tmp_path)
    wallets = Wallets.from_settings(settings)
    await wallets.start()
    ctx = SimpleNamespace(service=SimpleNamespace(listeners=[]), custody=None)
    runtime = await start_custody(settings, wallets, ctx)
    assert runtime is not None and runtime.devchains is not None
    state: dict[str, Any] = {"settings": settings, "wallets": wallets, "ctx": ctx, "runtime": runtime}
    try:
        yield state
    finally:
        await state["runtime"].stop()
        await wallets.close()


async def test_serve_custody_deposit_withdraw_reserves_restart(
    served: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    wallets: Wallets = served["wallets"]
    runtime: CustodyRuntime = served["runtime"]
    info = runtime.devchains.info  # type: ignore[union-attr]
    custody = served["ctx"].custody
    t = await wallets.accounts.create_tenant("t")
    a = (await wallets.accounts.create_account(t.tenant_id, "a@x")).account_id
    btc_addr = (await custody.addresses.deposit_address_async(a, "BTC")).address
    eth_addr = (await custody.addresses.deposit_address_async(a, "ETH")).address

    argv = ["wallet", "dev-send", "--network", "btc", "--to", btc_addr, "--amount", "0.25"]
    args = build_parser("wallet").parse_args(argv)  # the CLI a newcomer runs beside `braid serve`
    assert await asyncio.to_thread(args.run, args, served["settings"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["txid"]
    await dev_send(info, "ETH", eth_addr, Decimal(40), coin="USDT")

    async def credited() -> bool:
        rows = await wallets.store.read(lambda c: deposit_history(c, a))
        return len(rows) == 2 and all(d.status == "unlocked" for d in rows)

    await eventually(credited, timeout=15, interval=0.1, what="both deposits unlocked")
    assert wallets.ledger.balance(a, "BTC").free == Decimal("0.25")
    assert wallets.ledger.balance(a, "USDT").free == Decimal(40)
    assert runtime.engine is not None
    with runtime.engine.connect() as conn:
        sources = dict(conn.execute(select(chain_observations.c.asset, chain_observations.c.sources)).all())
    anvil_funder = (await runtime.nodes["ETH"].w3.eth.accounts)[0]  # type: ignore[union-attr]
    assert sources == {"BTC": faucet_address(), "USDT": anvil_funder}  # the payers, for source screening

    dest = str(p2wpkh(ec.PrivateKey(hashlib.sha256(b"dest").digest()).get_public_key()).address(NETWORKS["regtest"]))
    wd = custody.withdrawals
    await wd.whitelist(a, "BTC", dest)
    req = await wd.request(a, "BTC", "BTC", dest, Decimal("0.1"))
    for op in ("op1", "op2"):
        await wd.approve(req.id, op)

    async def completed() -> bool:
        return (await wd.get(req.id)).status == "completed"

    await eventually(completed, timeout=15, interval=0.1, what="the BTC withdrawal completed")
    done = await wd.get(req.id)
    assert await runtime.nodes["BTC"].lookup("BTC", done.txid) >= 2  # type: ignore[operator]
    assert wallets.ledger.balance(a, "BTC").free == Decimal("0.1498")  # 0.25 - 0.1 - 0.0002 fee

    held = await _holdings_from_nodes(runtime.settings, 2)
    assert held["BTC"]["deposit"] == Decimal("0.25")  # deposits stay on their addresses (no sweep yet)
    assert Decimal("19.89") < held["BTC"]["hot"] < Decimal("19.9")  # 20 funded, 0.1 paid out, a fee
    assert held["USDT"]["deposit"] == Decimal(40) and held["USDT"]["hot"] == Decimal(100000)

    # restart on the same data directory: the chains come back with their blocks, nothing moves twice
    await runtime.stop()
    served["runtime"] = again = await start_custody(served["settings"], wallets, served["ctx"])
    assert again is not None
    await eventually(lambda: all(w.tip is not None for w in again.watchers), timeout=10, what="watchers resumed")
    assert all(w.reorgs == 0 for w in again.watchers)
    rows = await wallets.store.read(lambda c: list(c.execute(select(models.deposits.c.status)).scalars()))
    assert rows == ["unlocked", "unlocked"]
    assert wallets.ledger.balance(a, "BTC").free == Decimal("0.1498")
    assert (await wallets.ledger.balance_sheet()).ok

    # the deposits move into the hot wallet (deep enough already); the ledger does not change
    assert again.sweeper is not None and len(await again.sweeper.sweep()) == 2  # BTC; gas for the USDT deposit
    assert len(await again.sweeper.sweep()) == 1  # the USDT, now that its address has the gas
    await eventually(_swept(again), timeout=10, interval=0.2, what="the deposits swept into the hot wallet")
    assert wallets.ledger.balance(a, "BTC").free == Decimal("0.1498")


def _swept(runtime: CustodyRuntime) -> Any:
    async def check() -> bool:
        held = await _holdings_from_nodes(runtime.settings, 2)
        btc, usdt = held["BTC"], held["USDT"]
        return btc["deposit"] == usdt["deposit"] == 0 and btc["hot"] > Decimal("20.1") and usdt["hot"] == 100040

    return check
