"""`braid treasury` keeping the hot wallet's band, from the command line against the Bitcoin regtest simulator
(its own event loop in a thread, as a node is another process): plan drafts a cold -> hot refill below the floor,
two operators approve, `cold-artefact` writes the PSBT and the approved request for the cosigners, `cold-submit`
refuses a tampered PSBT and broadcasts the genuine one."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from embit.psbt import PSBT

from compliance import BackOffice
from config.settings import Settings
from gateway import cli
from wallets.chains.devnet import BTC_PASSWORD, BTC_USER, DevChainInfo, dev_send, faucet_address
from wallets.chains.simulators import BitcoinSimulator
from wallets.custody import PublicWallets, Sealer, run_ceremony
from wallets.custody.btc import sign_cold_psbt

PASSPHRASE = "hot and cold passphrase"
BAND = {"floor": "0.5", "target": "1", "ceiling": "2"}


@pytest.fixture
def sim() -> Iterator[tuple[BitcoinSimulator, asyncio.AbstractEventLoop]]:
    node = BitcoinSimulator(BTC_USER, BTC_PASSWORD)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(node.start(), loop).result(10)
    yield node, loop
    asyncio.run_coroutine_threadsafe(node.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def braid(settings: Settings, *argv: str) -> tuple[int, list[dict[str, Any]]]:
    args = cli.build_parser().parse_args(list(argv))
    out = io.StringIO()
    code = args.run(args, settings, out)
    return code, [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_cold_refill_from_the_command_line(
    sim: tuple[BitcoinSimulator, asyncio.AbstractEventLoop], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node, loop = sim
    monkeypatch.setenv("BRAID_WALLET_PASSPHRASE", PASSPHRASE)
    sealer = Sealer(passphrase=PASSPHRASE)
    keys = run_ceremony(tmp_path / "custody", btc_network="regtest", sealer=sealer, dev=True)
    public = PublicWallets.load(keys.public_file)
    hot, cold = public.hot_address("BTC"), public.cold_address(0, 0)
    node.mine(101, faucet_address())
    for address, amount in ((hot, "0.1"), (cold, "3")):
        asyncio.run_coroutine_threadsafe(
            dev_send(DevChainInfo(btc_url=node.url), "BTC", address, Decimal(amount)), loop
        ).result(10)
    node.mine(1, faucet_address())
    settings = Settings(
        data_dir=str(tmp_path),
        custody={
            "dir": str(tmp_path / "custody"),
            "hot_limits": {"BTC": {"floor": "0.5", "target": "1", "ceiling": "2"}},
        },
        chains={
            "networks": ["BTC"],
            "dev": {"enabled": False},
            "btc": {"rpc_url": node.url, "rpc_user": BTC_USER, "rpc_password": BTC_PASSWORD},
        },
    )  # type: ignore[arg-type]
    bo = BackOffice.from_settings(settings)
    try:
        for name, role in (("carol", "treasury_approver"), ("alice", "treasury_approver"), ("bob", "admin")):
            bo.operators.create(name, "a long enough password", role, actor="setup", ip="127.0.0.1")
    finally:
        bo.close()

    code, [t] = braid(settings, "treasury", "plan", "--actor", "carol")
    assert code == 0 and (t["kind"], t["amount"], t["address"], t["state"]) == ("cold_to_hot", "0.9", hot, "proposed")
    tid = str(t["id"])
    assert braid(settings, "treasury", "approve", tid, "--actor", "carol")[0] == 2  # the proposer is refused
    braid(settings, "treasury", "approve", tid, "--actor", "alice")
    braid(settings, "treasury", "approve", tid, "--actor", "bob")
    code, [waiting] = braid(settings, "treasury", "execute", tid)
    assert code == 0 and waiting["state"] == "waiting_cold" and not node.node.mempool

    code, [files] = braid(settings, "treasury", "cold-artefact", tid, "--dir", str(tmp_path / "out"))
    assert code == 0
    base = Path(files["psbt"]).read_text().strip()
    approved = orjson.loads(Path(files["approved"]).read_text())
    assert (approved["destination"], approved["amount"]) == (hot, "0.90000000")
    cosigners = [f for f in sorted(keys.cold_files) if f.name.startswith("cosigner-")][:2]

    tampered = PSBT.from_string(base)
    tampered.outputs[0].value -= 10_000  # the attacker keeps a little more in the change
    tampered.outputs[1].value += 10_000
    bad = []
    for n, f in enumerate(cosigners):
        (tmp_path / f"bad{n}.psbt").write_text(sign_cold_psbt(tampered.to_string(), f, sealer)[0])
        bad.append(str(tmp_path / f"bad{n}.psbt"))
    assert braid(settings, "treasury", "cold-submit", tid, *bad)[0] == 2
    assert not node.node.mempool

    good = []
    for n, f in enumerate(cosigners):
        (tmp_path / f"good{n}.psbt").write_text(sign_cold_psbt(base, f, sealer)[0])
        good.append(str(tmp_path / f"good{n}.psbt"))
    code, [sent] = braid(settings, "treasury", "cold-submit", tid, *good)
    assert code == 0 and sent["state"] == "sent" and sent["txId"] in node.node.mempool
    node.mine(1, faucet_address())
    assert braid(settings, "treasury", "reconcile")[1][0]["state"] == "completed"
