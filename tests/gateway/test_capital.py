"""The capital endpoints through real clients: ccxt binance (``urls['api']['sapi']`` pointed at the server)
and python-binance (``MARGIN_API_URL`` on a subclass), against a running Braid whose deposits come from the
deposit state machine (observations as the chain watchers deliver them) and whose withdrawals are signed
with the real hot EVM key and sent to a test double of an Ethereum node."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any
from urllib.parse import quote

import aiohttp
import ccxt
import pytest
from binance import Client
from binance.exceptions import BinanceAPIException

from compliance import Kyc, KycStore, TravelRule
from compliance.totp import account_subject, code_at
from config.kyc import KycSettings
from gateway.api.capital import Custody, balance_events
from gateway.custody_compliance import CustodyCompliance
from tests.gateway.conftest import Server, ccxt_client
from tests.gateway.test_broker_and_orders import call
from tests.wallets.conftest import MASTER
from tests.wallets.custody.conftest import PASSPHRASE, ceremony, public, sealer  # noqa: F401 - fixtures
from tests.wallets.custody.flow_helpers import (
    USDT_ETH,
    FakeEvmNode,
    Obs,
    Tip,
    flow_settings,
)
from wallets.custody import CustodyAddresses
from wallets.custody.coins import Coins
from wallets.custody.deposit_flow import DepositFlow
from wallets.custody.hot_signers import EvmHotSigner
from wallets.custody.keyfile import Sealer
from wallets.custody.withdrawals import Withdrawals

DEST = "0x" + "ab" * 20
PERSON = {"naturalPerson": {"name": {"nameIdentifier": [{"primaryIdentifier": "Doe", "secondaryIdentifier": "Jo"}]}}}


class Env:
    def __init__(
        self, server: Server, flow: DepositFlow, wd: Withdrawals, node: FakeEvmNode, addresses: CustodyAddresses
    ) -> None:
        self.server, self.flow, self.wd, self.node, self.addresses = server, flow, wd, node, addresses

    def deposit(self, account: int, coin: str, network: str, units: int, txid: str, confirmations: int) -> None:
        address = self.addresses.deposit_address(account, network).address
        token = USDT_ETH if (coin, network) == ("USDT", "ETH") else None
        o = Obs(network, txid, "0", address, coin, units, 100, f"b{txid}", token=token)

        async def feed() -> None:
            await self.flow.on_observed(o)
            await self.flow.on_confirmations(network, Tip(100 + confirmations - 1, "t"), [(o, confirmations)])

        self.server.call(feed())


@pytest.fixture
def env(server: Server, ceremony: Any, public: Any) -> Iterator[Env]:  # noqa: F811 - fixtures
    settings = flow_settings(whitelist_cooloff_s=0, approvals=1)
    node = FakeEvmNode()
    addresses = CustodyAddresses.open(server.db_url, public, schema=server.schema)
    signer = EvmHotSigner(
        node,
        public,
        Coins.from_settings(settings),
        ceremony.hot_file,
        Sealer(passphrase=PASSPHRASE),
        {"ETH": 31337, "BSC": 56},
    )
    on_deposit, on_withdrawal = balance_events(server.ctx)
    wd = Withdrawals(
        server.wallets.store,
        server.wallets.ledger,
        settings,
        btc=public.btc,
        chains={"ETH": node},
        signers={"ETH": signer},
        on_balance=on_withdrawal,
    )
    flow = DepositFlow(
        server.wallets.store, server.wallets.ledger, addresses, Coins.from_settings(settings), on_step=on_deposit
    )
    server.ctx.custody = Custody(addresses, wd)
    try:
        yield Env(server, flow, wd, node, addresses)
    finally:
        addresses.close()


def test_ccxt_deposits_and_withdrawals(env: Env) -> None:
    server = env.server
    acct, key, secret = server.account("cap-alice", {})
    ex = ccxt_client(ccxt, server, key, secret)
    ex.load_markets()
    btc_addr = ex.fetch_deposit_address("BTC")
    assert btc_addr["address"] == env.addresses.deposit_address(acct, "BTC").address
    assert btc_addr["address"].startswith("bcrt1q")
    usdt_addr = ex.fetch_deposit_address("USDT", {"network": "ETH"})
    assert usdt_addr["address"] == env.addresses.deposit_address(acct, "ETH").address

    env.deposit(acct, "BTC", "BTC", 25_000_000, "aa" * 32, 3)  # pending
    env.deposit(acct, "USDT", "ETH", 1_000_000_000, "bb" * 32, 12)  # 1000 USDT, credited and unlocked
    deposits = {d["txid"]: d for d in ex.fetch_deposits()}
    assert deposits["aa" * 32]["status"] == "pending" and deposits["aa" * 32]["amount"] == 0.25
    assert deposits["bb" * 32]["status"] == "ok" and deposits["bb" * 32]["amount"] == 1000
    assert deposits["bb" * 32]["currency"] == "USDT" and deposits["bb" * 32]["info"]["confirmTimes"] == "12/12"
    assert server.balance(acct, "USDT") == (D(1000), D(0))

    server.call(env.wd.whitelist(acct, "ETH", DEST))
    w = ex.withdraw("USDT", 100, DEST, {"network": "ETH"})
    assert w["id"]
    assert server.balance(acct, "USDT") == (D(895), D(105))  # 100 + the 5 USDT fee locked
    [listed] = ex.fetch_withdrawals("USDT")
    assert listed["id"] == w["id"] and listed["status"] == "pending"  # awaiting approval (first use of the address)
    assert listed["info"]["status"] == 2 and listed["fee"]["cost"] == 5
    server.call(env.wd.approve(w["id"], "op1"))
    server.call(env.wd.process())
    env.node.mine(12)
    server.call(env.wd.process())
    [done] = ex.fetch_withdrawals("USDT")
    assert done["status"] == "ok" and done["txid"] in env.node.pool
    assert server.balance(acct, "USDT") == (D(895), D(0))

    with pytest.raises(ccxt.BaseError, match="insufficient withdrawable"):
        ex.withdraw("USDT", 5000, DEST, {"network": "ETH"})
    with pytest.raises(ccxt.BaseError, match="invalid ETH address"):
        ex.withdraw("USDT", 10, "bcrt1qw508d6qejxtdg4y504ex5se4akqr3", {"network": "ETH"})
    assert server.balance(acct, "USDT") == (D(895), D(0))


def test_python_binance_and_user_stream(env: Env) -> None:
    server = env.server
    acct, key, secret = server.account("cap-bob", {})

    class Braid(Client):
        API_URL = f"{server.url}/api"
        MARGIN_API_URL = f"{server.url}/sapi"

    c = Braid(key, secret)
    got = c.get_deposit_address(coin="USDT", network="ETH")
    assert got["address"] == env.addresses.deposit_address(acct, "ETH").address and got["coin"] == "USDT"
    coins = {x["coin"]: x for x in c.get_all_coins_info()}
    assert {n["network"] for n in coins["USDT"]["networkList"]} == {"ETH", "BSC"}

    events: list[dict[str, Any]] = []
    listen_key = c.stream_get_listen_key()

    async def listen(stop: asyncio.Event) -> None:
        async with (
            aiohttp.ClientSession() as s,
            s.ws_connect(f"{server.url.replace('http', 'ws')}/ws/{listen_key}") as ws,
        ):
            while not stop.is_set():
                try:
                    msg = await ws.receive(timeout=0.2)
                except TimeoutError:
                    continue
                if msg.type == aiohttp.WSMsgType.TEXT:
                    events.append(json.loads(msg.data))

    stop = asyncio.Event()
    task = asyncio.run_coroutine_threadsafe(listen(stop), server.loop)
    t0 = time.monotonic()
    while not server.call(_subscribed(server, acct)) and time.monotonic() - t0 < 5:
        time.sleep(0.02)
    env.deposit(acct, "USDT", "ETH", 300_000_000, "cc" * 32, 12)
    server.call(env.wd.whitelist(acct, "ETH", DEST))
    res = c.withdraw(coin="USDT", network="ETH", address=DEST, amount="50", withdrawOrderId="mine-1")
    assert set(res) == {"id"}
    hist = c.get_withdraw_history(coin="USDT")
    assert hist[0]["withdrawOrderId"] == "mine-1" and hist[0]["status"] == 2 and hist[0]["amount"] == "50"
    with pytest.raises(BinanceAPIException) as refused:
        c.withdraw(coin="USDT", network="ETH", address="0x" + "ee" * 20, amount="10")
    assert "whitelist" in refused.value.message
    t0 = time.monotonic()
    while len([e for e in events if e.get("e") == "balanceUpdate"]) < 2 and time.monotonic() - t0 < 5:
        time.sleep(0.02)
    server.loop.call_soon_threadsafe(stop.set)
    task.result(5)
    updates = [(e["a"], e["d"]) for e in events if e.get("e") == "balanceUpdate"]
    assert updates == [("USDT", "300.00000000"), ("USDT", "-55.00000000")]


async def _subscribed(server: Server, account: int) -> bool:
    from gateway.api.ws import USERS

    app = server.runner.app
    return bool(app[USERS].get(account))


def test_disabled_without_ceremony_and_enabled_with_it(server: Server, ceremony: Any, tmp_path: Any) -> None:  # noqa: F811
    from config.settings import Settings
    from gateway.api.capital import custody_enabled, custody_from_settings
    from gateway.custody_compliance import custody_compliance_from
    from wallets.custody.withdrawals import WithdrawalRefused

    carol, key, secret = server.account("cap-carol", {"USDT": "1000"})
    ex = ccxt_client(ccxt, server, key, secret)
    ex.load_markets()
    with pytest.raises(ccxt.BaseError, match="not enabled"):
        ex.fetch_deposit_address("BTC")
    assert custody_from_settings(Settings(data_dir=str(tmp_path)), server.wallets) is None
    settings = Settings(
        env="production",
        data_dir=str(tmp_path),
        database_url=server.db_url,
        custody={"dir": str(ceremony.public_file.parent.parent), "flow": {"whitelist_required": False}},
    )  # type: ignore[arg-type]
    assert custody_enabled(settings)
    dev = custody_compliance_from(settings.model_copy(update={"env": "development"}), server.ctx.backoffice)
    assert dev.screening is None  # no sanctions list loaded: development runs unscreened (logged)
    checks = custody_compliance_from(settings, server.ctx.backoffice, None, lambda asset: None)  # as `braid serve`
    assert checks.screening is not None and checks.kyc is None and checks.operators is not None  # KYC not enforced
    custody = custody_from_settings(settings, server.wallets, checks)
    assert custody is not None
    try:
        assert custody.addresses.deposit_address(7, "BTC").address.startswith("bcrt1q")
        wd = custody.withdrawals
        assert (wd.gate, wd.hold_state, wd.authorize) == (checks.gate, checks.hold_state, checks.authorize)
        with pytest.raises(WithdrawalRefused, match="no sanctions list is loaded"):  # screening on, no list: paused
            server.call(wd.request(carol, "USDT", "ETH", DEST, D(100)))
    finally:
        custody.addresses.close()


def test_withdraw_apply_answers_compliance_refusals_binance_shaped(env: Env, tmp_path: Any) -> None:
    server = env.server
    store = KycStore(server.db_url, MASTER)
    settings = KycSettings(enforce=True, travel_rule_threshold=D(500))
    kyc = Kyc(settings, store, lambda asset: None)
    flow = flow_settings(whitelist_required=False, approvals=1)
    checks = CustodyCompliance(kyc=kyc)  # tier limits and the Travel Rule, no screening
    env.wd.gate = checks.gate
    env.flow.unlock_check = checks.unlock_check
    server.ctx.custody.compliance = checks
    acct, key, secret = server.account("cap-dora", {"USDT": "5000"})
    kyc.set_tier(acct, 1, reason="id checked", actor="alice")
    env.wd.flow = flow

    def apply(params: str) -> Any:
        return call(server, "POST", "/sapi/v1/capital/withdraw/apply", key, secret, f"coin=USDT&network=ETH&{params}")

    try:
        over = apply(f"address={DEST}&amount=2500")
        assert over.status_code == 400 and over.json() == {
            "code": -4040,
            "msg": "daily withdrawal limit of tier 1 is 2000 USDT: 0 used, 2500 requested",
        }
        missing = apply(f"address={DEST}&amount=600")
        assert missing.json()["code"] == -4041 and "beneficiary's details (IVMS 101)" in missing.json()["msg"]
        bad = apply(f"address={DEST}&amount=600&questionnaire=%7Bnot-json")
        assert bad.json() == {
            "code": -1100,
            "msg": "Illegal characters found in parameter 'questionnaire': JSON expected.",
        }
        record = {"beneficiary": {"beneficiaryPersons": [PERSON]}}
        ok = apply(f"address={DEST}&amount=600&hostedWallet=false&questionnaire={quote(json.dumps(record))}")
        assert ok.status_code == 200, ok.text
        assert TravelRule(store).travel_rule_satisfied("withdrawal", ok.json()["id"])
        assert server.balance(acct, "USDT") == (D(4395), D(605))

        env.deposit(acct, "USDT", "ETH", 700_000_000, "dd" * 32, 12)  # 700 USDT: waits for its originator
        [dep] = call(server, "GET", "/sapi/v1/capital/deposit/hisrec", key, secret, "coin=USDT").json()
        assert dep["status"] == 6  # credited, not withdrawable

        def provide(deposit: str, record: Any) -> Any:
            body = f"depositId={deposit}&questionnaire={quote(json.dumps(record))}"
            return call(server, "PUT", "/sapi/v1/localentity/deposit/provide-info", key, secret, body)

        assert provide("nope", {}).json() == {"code": -4027, "msg": "No deposit nope on this account."}
        refused = provide(dep["id"], {"originator": {}}).json()
        assert refused["code"] == -4041 and "originator.originatorPersons" in refused["msg"]
        assert provide(dep["id"], {"originator": {"originatorPersons": [PERSON]}}).json()["accepted"] is True
        server.call(env.flow.recheck())
        [dep] = call(server, "GET", "/sapi/v1/capital/deposit/hisrec", key, secret, "coin=USDT").json()
        assert dep["status"] == 1
    finally:
        store.close()


def test_a_withdrawal_needs_a_fresh_code_when_2fa_is_on(env: Env) -> None:
    server = env.server
    acct, key, secret = server.account("cap-2fa", {})
    env.deposit(acct, "USDT", "ETH", 1_000_000_000, "cc" * 32, 12)
    server.call(env.wd.whitelist(acct, "ETH", DEST))
    factors = server.ctx.backoffice.factors  # type: ignore[union-attr]
    enrolment = factors.enrol(account_subject(acct), "cap-2fa")
    factors.verify(account_subject(acct), code_at(enrolment.secret, int(time.time()) - 30))  # confirmed: 2FA on
    ex = ccxt_client(ccxt, server, key, secret)
    ex.load_markets()
    with pytest.raises(ccxt.AuthenticationError, match="code is required"):
        ex.withdraw("USDT", 100, DEST, {"network": "ETH"})
    with pytest.raises(ccxt.AuthenticationError):
        ex.withdraw("USDT", 100, DEST, {"network": "ETH", "totpCode": "000000"})
    assert server.balance(acct, "USDT") == (D(1000), D(0)) and ex.fetch_withdrawals("USDT") == []  # nothing moved
    code = code_at(enrolment.secret, int(time.time()))
    assert ex.withdraw("USDT", 100, DEST, {"network": "ETH", "totpCode": code})["id"]
    with pytest.raises(ccxt.AuthenticationError, match="already used"):  # the same code again
        ex.withdraw("USDT", 100, DEST, {"network": "ETH", "totpCode": code})
    assert server.balance(acct, "USDT") == (D(895), D(105))
    refusals = [e for e in server.ctx.backoffice.audit.entries() if e.action == "withdrawal.refused_2fa"]  # type: ignore[union-attr]
    assert len(refusals) == 3 and {e.target for e in refusals} == {f"account:{acct}"}
