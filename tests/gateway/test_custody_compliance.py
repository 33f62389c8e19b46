"""Compliance on custody's paths, composed as `braid serve` composes it (``gateway.custody_compliance``): tier
limits on withdrawals and deposit unlocks, the Travel Rule, sanctioned destinations and sources held with a
case that only a second operator closes, AML holds and alerts, the anomaly score, operator roles, and every
step in the hash-chained audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from argon2 import PasswordHasher
from sqlalchemy import select

from compliance import (
    BackOffice,
    CaseService,
    FourEyesViolation,
    Kyc,
    KycStore,
    PermissionDenied,
    Screening,
    TravelRule,
    create_screening_tables,
    load_rules,
    open_engine,
)
from compliance.operators import OperatorAuthorizer
from config.kyc import KycSettings
from gateway.custody_compliance import KYC_LIMIT, TRAVEL_RULE, CustodyCompliance
from tests.compliance.conftest import fixture_list
from tests.wallets.conftest import MASTER
from tests.wallets.custody.flow_helpers import USDT_ETH, Tip, flow_settings
from wallets import Wallets
from wallets.custody import models
from wallets.custody.coins import Coins
from wallets.custody.deposit_flow import DepositFlow
from wallets.custody.withdrawals import Withdrawal, WithdrawalRefused, Withdrawals

LAZARUS_ETH = "0x098B716B8Aaf21512996dC57EB0615e2383E2f96"  # SDN "LAZARUS GROUP", Digital Currency Address - ETH
CLEAN = "0x" + "ab" * 20
DEPOSIT_ADDRESS = "0x" + "d0" * 20
USDT_UNITS = 10**6
SDN = fixture_list()
PERSON = {"naturalPerson": {"name": {"nameIdentifier": [{"primaryIdentifier": "Doe", "secondaryIdentifier": "Jo"}]}}}
VASP = {
    "legalPerson": {
        "name": {"nameIdentifier": [{"legalPersonName": "Example Exchange"}]},
        "nationalIdentification": {"nationalIdentifier": "5493001KJTIIGC8Y1R12", "nationalIdentifierType": "LEIX"},
    }
}


@dataclass(frozen=True)
class Payment:
    """An observation as the watchers deliver it, with the source addresses (``Observation.sources``)."""

    chain: str
    txid: str
    index: str
    address: str
    asset: str
    amount: int
    block_height: int
    block_hash: str
    account: str | None = None
    token: str | None = USDT_ETH
    sources: tuple[str, ...] = ()


class Env:
    def __init__(self, w: Wallets, bo: BackOffice, screening: Screening, kyc: Kyc, checks: CustodyCompliance) -> None:
        self.w, self.bo, self.screening, self.kyc, self.checks = w, bo, screening, kyc, checks
        flow = flow_settings(whitelist_required=False, approvals=1)
        self.wd = Withdrawals(w.store, w.ledger, flow, **checks.withdrawal_hooks(flow))
        self.deposits = DepositFlow(w.store, w.ledger, self, Coins.from_settings(flow), **checks.deposit_hooks())
        self.txs = 0

    def account_for(self, network: str, address: str) -> int | None:
        return None  # every payment here names its account

    async def account(self, tier: int, usdt: str = "0") -> int:
        t = await self.w.accounts.create_tenant(f"t{self.txs}-{tier}-{usdt}")
        self.txs += 1
        a = (await self.w.accounts.create_account(t.tenant_id, "client")).account_id
        if Decimal(usdt):
            await self.w.ledger.credit(a, "USDT", Decimal(usdt), "funding")
        if tier:
            self.kyc.set_tier(a, tier, reason="documents checked", actor="alice")
        return a

    async def pay(self, account: int, usdt: str, *sources: str) -> str:
        """A USDT deposit to the account, confirmed to its credit and unlock depth (12); its status."""
        self.txs += 1
        p = Payment(
            "ETH",
            f"0x{self.txs:064x}",
            "0",
            DEPOSIT_ADDRESS,
            "USDT",
            int(Decimal(usdt) * USDT_UNITS),
            100,
            f"b{self.txs}",
            account=str(account),
            sources=sources,
        )
        self.last_payment = p
        await self.deposits.on_observed(p)
        await self.deposits.on_confirmations("ETH", Tip(111, "tip"), [(p, 12)])
        return await self.status(p.txid)

    async def status(self, txid: str) -> str:
        t = models.deposits
        return str(await self.w.store.read(lambda c: c.execute(select(t.c.status).where(t.c.txid == txid)).scalar()))

    async def last_deposit(self, account: int) -> tuple[str, str]:
        t = models.deposits
        q = select(t.c.id, t.c.txid).where(t.c.account_id == account).order_by(t.c.created.desc(), t.c.id)
        row = await self.w.store.read(lambda c: c.execute(q).first())
        return str(row.id), str(row.txid)

    def usdt(self, account: int) -> tuple[Decimal, Decimal]:
        b = self.w.ledger.balance(account, "USDT")
        return b.free, b.locked

    def audit(self) -> list[tuple[str, str, str]]:
        return [(e.actor, e.action, e.target) for e in self.bo.audit.entries()]


ROLES = (
    ("alice", "compliance_officer"),
    ("bob", "compliance_officer"),
    ("tina", "treasury_approver"),
    ("sam", "support"),
)
UNLIMITED = {"may_deposit": True, "max_deposit": None, "daily_withdrawal": None, "monthly_withdrawal": None}


def kyc_settings(**kw: Any) -> KycSettings:
    base: dict[str, Any] = {
        "enforce": True,
        "tier1": {
            "may_deposit": True,
            "may_trade": True,
            "max_deposit": "10000",
            "daily_withdrawal": "2000",
            "monthly_withdrawal": "20000",
            "max_order_notional": "10000",
        },
        "travel_rule_threshold": "1000000000",  # out of the way unless a test is about it
    }
    return KycSettings.model_validate({**base, **kw})


@pytest_asyncio.fixture
async def make_env(tmp_path: Any) -> AsyncIterator[Any]:
    made: list[tuple[Wallets, BackOffice, KycStore]] = []

    async def make(settings: KycSettings | None = None) -> Env:
        url = f"sqlite:///{tmp_path}/braid.db"
        w = Wallets.open(url, master_key=MASTER)
        await w.start()
        bo = BackOffice.open(url, master_key=MASTER)
        bo.operators.hasher = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)  # fast for tests
        for name, role in (
            ("alice", "compliance_officer"),
            ("bob", "compliance_officer"),
            ("tina", "treasury_approver"),
        ):
            bo.operators.create(name, "correct horse battery", role, actor="test", ip="local")
        bo.operators.create("sam", "correct horse battery", "support", actor="test", ip="local")
        engine = open_engine(url)
        create_screening_tables(engine)
        cases = CaseService(engine, OperatorAuthorizer(bo.operators), audit=bo.audit.record)
        screening = Screening(engine, cases=cases, rules=load_rules(None), audit=bo.audit.record)
        screening.load(SDN, actor="alice")
        store = KycStore(url, MASTER)
        kyc = Kyc(settings or kyc_settings(), store, lambda asset: None, audit=bo.audit.record)
        made.append((w, bo, store))
        checks = CustodyCompliance(screening=screening, kyc=kyc, operators=bo.operators, audit=bo.audit)
        env = Env(w, bo, screening, kyc, checks)
        await env.deposits.load()
        return env

    try:
        yield make
    finally:
        for w, bo, store in made:
            await w.close()
            bo.close()
            store.close()


async def test_tier_limits_refuse_a_withdrawal_at_the_boundary_and_allow_one_step_below(make_env: Any) -> None:
    env = await make_env()
    a = await env.account(1, usdt="10000")
    free = env.usdt(a)
    with pytest.raises(WithdrawalRefused) as refused:
        await env.wd.request(a, "USDT", "ETH", CLEAN, Decimal("2000.000001"))  # one smallest step over 2,000
    assert refused.value.code == KYC_LIMIT
    assert refused.value.msg == "daily withdrawal limit of tier 1 is 2000 USDT: 0 used, 2000.000001 requested"
    assert env.usdt(a) == free and await env.wd.query(account_id=a) == []  # nothing written, nothing locked
    ok = await env.wd.request(a, "USDT", "ETH", CLEAN, Decimal(2000))  # exactly the limit: allowed
    assert ok.status == "pending_approval" and env.usdt(a) == (Decimal(7995), Decimal(2005))  # + 5 USDT fee
    with pytest.raises(WithdrawalRefused, match="2000 used, 10 requested") as again:
        await env.wd.request(a, "USDT", "ETH", CLEAN, Decimal(10))  # the day's total counts
    assert again.value.code == KYC_LIMIT
    unverified = await env.account(0, usdt="100")
    with pytest.raises(WithdrawalRefused, match="daily withdrawal limit of tier 0 is 0 USDT"):
        await env.wd.request(unverified, "USDT", "ETH", CLEAN, Decimal(10))
    await env.wd.cancel(ok.id, f"account:{a}")  # released: it no longer counts
    assert (await env.wd.request(a, "USDT", "ETH", CLEAN, Decimal(2000))).status == "pending_approval"


async def test_tier_limits_lock_a_deposit_above_the_boundary_and_unlock_one_step_below(make_env: Any) -> None:
    env = await make_env()
    a = await env.account(1)
    assert await env.pay(a, "10000.000001") == "locked"  # one step over tier 1's largest deposit: credited, locked
    assert env.usdt(a) == (Decimal("10000.000001"), Decimal(0))  # in the ledger (tradeable)
    assert await env.wd.withdrawable(a, "USDT") == 0  # but not withdrawable
    assert await env.pay(a, "10000") == "unlocked"  # exactly the limit: unlocked
    assert await env.wd.withdrawable(a, "USDT") == Decimal(10000)
    assert await env.deposits.recheck() == []  # still over the limit
    env.kyc.set_tier(a, 2, reason="proof of funds", actor="bob")
    [moved] = await env.deposits.recheck()
    assert moved.status == "unlocked" and await env.wd.withdrawable(a, "USDT") == Decimal("20000.000001")
    t0 = await env.account(0)
    assert await env.pay(t0, "50") == "locked"  # tier 0 may not deposit: credited but locked
    assert ("bob", "kyc.set_tier", f"account:{a}") in env.audit()


async def test_travel_rule_beneficiary_for_withdrawals_and_originator_before_a_deposit_unlocks(make_env: Any) -> None:
    env = await make_env(kyc_settings(travel_rule_threshold="1000"))
    a = await env.account(1, usdt="5000")
    assert (await env.wd.request(a, "USDT", "ETH", CLEAN, Decimal("999.999999"))).status == "pending_approval"
    with pytest.raises(WithdrawalRefused, match="beneficiary's details") as missing:
        await env.wd.request(a, "USDT", "ETH", CLEAN, Decimal(1000))
    assert missing.value.code == TRAVEL_RULE
    with pytest.raises(WithdrawalRefused, match="beneficiaryVASP: is required for a hosted wallet") as bad:
        await env.wd.request(
            a,
            "USDT",
            "ETH",
            CLEAN,
            Decimal(1000),
            details={"beneficiary": {"beneficiary": {"beneficiaryPersons": [PERSON]}}},
        )
    assert bad.value.code == TRAVEL_RULE
    record = {"beneficiary": {"beneficiaryPersons": [PERSON]}, "beneficiaryVASP": VASP}
    w = await env.wd.request(a, "USDT", "ETH", CLEAN, Decimal(1000), details={"beneficiary": record})
    tr = TravelRule(env.kyc.store, Decimal(1000))
    assert tr.travel_rule_satisfied("withdrawal", w.id)  # stored (sealed) under the withdrawal

    assert await env.pay(a, "1000") == "locked"  # waits for the originator's details
    did, txid = await env.last_deposit(a)
    assert await env.deposits.recheck() == []
    tr.attach_originator(did, {"originator": {"originatorPersons": [PERSON]}, "originatingVASP": VASP})
    assert [d.id for d in await env.deposits.recheck()] == [did] and await env.status(txid) == "unlocked"


async def test_a_sanctioned_withdrawal_destination_is_held_until_a_second_operator_closes_its_case(
    make_env: Any,
) -> None:
    env = await make_env()
    a = await env.account(1, usdt="3000")
    w = await env.wd.request(a, "USDT", "ETH", LAZARUS_ETH, Decimal(100))
    assert w.status == "held" and "held by compliance" in w.reason
    assert env.usdt(a) == (Decimal(2895), Decimal(105))  # the money is held where it is (reserved)
    [case] = env.screening.cases.find(account_id=a)
    assert case.kind == "sanctions-address" and case.evidence["sanctions"][0]["name"] == "LAZARUS GROUP"
    with pytest.raises(WithdrawalRefused, match="not waiting for approval"):
        await env.wd.approve(w.id, "tina")  # treasury cannot send it past the case
    with pytest.raises(WithdrawalRefused, match="too late"):
        await env.wd.cancel(w.id, f"account:{a}")  # nor can the client take it back
    assert await env.wd.process() == [] and (await env.wd.get(w.id)).status == "held"

    with pytest.raises(PermissionDenied, match="lacks permission cases.decide"):
        env.screening.cases.investigate(case.case_id, "sam")  # support reads only
    env.screening.cases.investigate(case.case_id, "alice")
    with pytest.raises(FourEyesViolation):
        env.screening.cases.close(case.case_id, "alice", resolution="confirmed", funds="return")
    env.screening.cases.close(case.case_id, "bob", resolution="confirmed SDN wallet", funds="return", sar_filed=True)
    [back] = await env.wd.process()
    assert back.status == "rejected" and "returned by compliance" in back.reason
    assert env.usdt(a) == (Decimal(3000), Decimal(0))

    second = await env.wd.request(a, "USDT", "ETH", LAZARUS_ETH, Decimal(200))  # held again; this case is released
    [case2] = [c for c in env.screening.cases.find(account_id=a) if c.state == "open"]
    env.screening.cases.investigate(case2.case_id, "bob")
    env.screening.cases.close(case2.case_id, "alice", resolution="delisted counterparty", funds="release")
    [released] = await env.wd.resolve_holds()
    assert released.id == second.id and released.status == "pending_approval"  # treasury approves the sending
    with pytest.raises(WithdrawalRefused, match="may not approve"):
        await env.wd.approve(second.id, f"account:{a}")
    with pytest.raises(WithdrawalRefused, match="lacks permission withdrawals.approve"):
        await env.wd.approve(second.id, "sam")
    assert (await env.wd.approve(second.id, "tina")).status == "approved"

    entries = env.audit()
    for step in (
        ("system", "compliance.hold", f"withdrawal:{w.id}"),
        ("alice", "case.investigate", f"case:{case.case_id}"),
        ("bob", "case.close", f"case:{case.case_id}"),
        ("bob", "hold.return", f"case:{case.case_id}"),
        ("system", "compliance.hold", f"withdrawal:{second.id}"),
        ("alice", "case.close", f"case:{case2.case_id}"),
        ("alice", "hold.release", f"case:{case2.case_id}"),
        ("sam", "operator.denied", "withdrawals.approve"),
    ):
        assert step in entries
    assert env.bo.audit.verify() == (len(entries), [])


async def test_a_sanctioned_deposit_source_is_held_until_a_second_operator_closes_its_case(make_env: Any) -> None:
    env = await make_env()
    a = await env.account(1)
    # one of the payment's inputs is the listed address: the deposit waits, uncredited
    assert await env.pay(a, "700", CLEAN, LAZARUS_ETH.lower()) == "held"
    did, txid = await env.last_deposit(a)
    assert env.usdt(a) == (Decimal(0), Decimal(0))
    [case] = env.screening.cases.find(account_id=a)
    assert case.evidence["event"]["address"] == LAZARUS_ETH.lower() and case.evidence["event"]["ref"] == f"dep:{did}"
    assert await env.deposits.recheck() == []  # still held
    env.screening.cases.investigate(case.case_id, "alice")
    env.screening.cases.close(case.case_id, "bob", resolution="exchange's pooled wallet, cleared", funds="release")
    [credited] = await env.deposits.recheck()
    assert credited.status == "unlocked" and env.usdt(a) == (Decimal(700), Decimal(0))

    assert await env.pay(a, "300", LAZARUS_ETH) == "held"
    _, txid2 = await env.last_deposit(a)
    [case2] = [c for c in env.screening.cases.find(account_id=a) if c.state == "open"]
    env.screening.cases.escalate(case2.case_id, "bob", reason="second payment from the SDN wallet")
    env.screening.cases.close(case2.case_id, "alice", resolution="returned to sender", funds="return")
    [returned] = await env.deposits.recheck()
    assert returned.status == "returned" and env.usdt(a) == (Decimal(700), Decimal(0))  # never credited
    assert await env.pay(a, "50", CLEAN) == "unlocked"  # a clean source goes through

    entries = env.audit()
    for step in (
        ("system", "compliance.hold", f"deposit:{did}"),
        ("bob", "hold.release", f"case:{case.case_id}"),
        ("bob", "case.escalate", f"case:{case2.case_id}"),
        ("alice", "hold.return", f"case:{case2.case_id}"),
    ):
        assert step in entries
    assert len([e for e in entries if e[1] == "compliance.hold"]) == 2  # asked again while held: recorded once
    assert env.bo.audit.verify() == (len(entries), [])


async def test_aml_rules_hold_structured_deposits_and_alert_on_a_large_withdrawal(make_env: Any) -> None:
    env = await make_env(kyc_settings(tier1=UNLIMITED))
    a = await env.account(1)
    assert await env.pay(a, "9500") == "unlocked"
    assert await env.pay(a, "9400") == "unlocked"
    assert await env.pay(a, "9600") == "held"  # the third just under the 10,000 reporting threshold in 24 h
    [case] = env.screening.cases.find(account_id=a)
    assert case.evidence["rule"] == "structuring"
    b = await env.account(1, usdt="50000")
    big = await env.wd.request(b, "USDT", "ETH", CLEAN, Decimal(12000))
    assert big.status == "pending_approval" and "AML alert (case" in big.reason  # large-transaction: an alert
    [alert] = env.screening.cases.find(account_id=b)
    assert alert.evidence["rule"] == "large-transaction" and env.screening.cases.holds_of(alert.case_id) == []


async def test_the_anomaly_model_sends_an_isolated_withdrawal_for_approval(make_env: Any) -> None:
    env = await make_env(kyc_settings(tier1=UNLIMITED))
    # a population of ordinary withdrawals: ~100 USDT to known addresses, deposits the day before
    rows = [[2.0 + (i % 7) / 100, (i % 5) / 100, 1.4, 0.0, float(i % 2), 0.2] for i in range(60)]
    env.screening.anomaly.fit(rows)
    env.checks.anomaly_review_score = 0.55  # BRAID_SCREENING__ANOMALY_REVIEW_SCORE
    a = await env.account(1, usdt="500000")
    w = await env.wd.request(a, "USDT", "ETH", CLEAN, Decimal(400000))  # never deposited, 4,000x the usual
    assert "anomaly score 0.594 >= 0.55" in w.reason and w.status == "pending_approval"
    env.checks.anomaly_review_score = 0.6
    w2 = await env.wd.request(a, "USDT", "ETH", CLEAN, Decimal(400))
    assert "anomaly score" not in w2.reason


async def test_operator_actions_go_through_the_roles(make_env: Any) -> None:
    env = await make_env()
    a = await env.account(1, usdt="500")
    w: Withdrawal = await env.wd.request(a, "USDT", "ETH", CLEAN, Decimal(100))
    with pytest.raises(WithdrawalRefused, match="no operator 'mallory'"):
        await env.wd.approve(w.id, "mallory")
    with pytest.raises(WithdrawalRefused, match="lacks permission"):
        await env.wd.freeze("ALL", "alice")  # compliance officers do not run the treasury
    assert (await env.wd.reject(w.id, "tina", "client asked by phone")).status == "rejected"


async def test_a_reversed_deposit_already_spent_opens_a_case(make_env: Any) -> None:
    env = await make_env()
    a = await env.account(1)
    assert await env.pay(a, "10000.5") == "locked"  # credited (tradeable), kept from withdrawal by the tier limit
    did, txid = await env.last_deposit(a)
    await env.w.ledger.debit(a, "USDT", Decimal(10000), "spent")  # traded away, say
    await env.deposits.on_orphaned(env.last_payment)  # its block left the chain
    assert await env.status(txid) == "reversed" and env.usdt(a) == (Decimal(0), Decimal(0))
    [case] = [c for c in env.screening.cases.find(account_id=a) if c.kind == "custody"]  # (and a large-deposit alert)
    assert case.evidence["deposit"] == did and case.evidence["shortfall"] == "10000"
    assert ("system", "compliance.case", f"case:{case.case_id}") in env.audit()
