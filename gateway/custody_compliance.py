"""Compliance on custody's paths: the hooks ``Withdrawals`` and ``DepositFlow`` take, built from compliance.

``wallets`` sits below ``compliance`` and never imports it; custody takes callables instead, and this module
(in the gateway, above both) makes them:

- withdrawals: ``gate`` (KYC tier limits, refused with a Binance-shaped error; the Travel Rule beneficiary at or
  above the threshold; sanctions screening of the destination and the AML rules: a hit or a holding rule holds
  the withdrawal with a case, an alert asks for an operator's approval), ``hold_state`` (what the hold's case
  decided), ``scorer`` (custody's own checks plus the IsolationForest anomaly score) and ``authorize`` (operator
  roles through ``compliance.operators.authorize``; the requester never approves);
- deposits: ``screen`` (sanctions screening of the source addresses and the AML rules, before the credit),
  ``unlock_check`` (tier deposit limits and the Travel Rule originator, before the unlock) and ``open_case``
  (custody's own alarms, such as a reversed deposit the client had already spent, become cases).

Compliance's calls are blocking (SQLAlchemy): each runs in a worker thread. Every hold is written to the audit
log as it is placed; its release or return is written by the case close (``CaseService``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import structlog

from compliance import (
    AuditLog,
    BackOffice,
    Kyc,
    MoneyEvent,
    NoListLoaded,
    NotAuthorized,
    OperatorError,
    Operators,
    PastWithdrawal,
    Screening,
    TravelRule,
    TravelRuleError,
    check_not_requester,
)
from compliance.operators import APPROVE_WITHDRAWAL, OperatorAuthorizer
from compliance.screening import screening_from_settings
from config.custody import CustodyFlowSettings
from config.settings import Settings
from wallets.custody.deposit_flow import Deposit
from wallets.custody.withdrawals import (
    GO,
    RELEASED,
    Scorer,
    Verdict,
    Withdrawal,
    WithdrawalRefused,
    default_scorer,
)

log = structlog.get_logger(__name__)

ZERO = Decimal(0)
ValueOf = Callable[[str, Decimal], Decimal | None]  # (asset, amount) -> its value in the quote asset, or None

# Binance-shaped codes of compliance refusals (custody's own are -4003..-4034)
KYC_LIMIT = -4040  # over the tier's withdrawal limits, or the tier may not withdraw
TRAVEL_RULE = -4041  # the Travel Rule beneficiary's details are missing or malformed
SCREENING_DOWN = -4042  # no sanctions list is loaded: screening cannot decide
KYC_CODES = {
    "TRAVEL_RULE_BENEFICIARY_MISSING": TRAVEL_RULE,
}
# What each custody operator action needs of the operator's role.
CUSTODY_PERMISSIONS = {
    "withdrawal.approve": APPROVE_WITHDRAWAL,
    "withdrawal.reject": APPROVE_WITHDRAWAL,
    "withdrawal.freeze": APPROVE_WITHDRAWAL,
    "withdrawal.unfreeze": APPROVE_WITHDRAWAL,
}
HOLD_STATE = {"held": "held", "released": "release", "returned": "return"}


def withdrawal_ref(w: Withdrawal) -> str:
    return f"wd:{w.id}"


def deposit_ref(d: Deposit) -> str:
    return f"dep:{d.id}"


@dataclass
class CustodyCompliance:
    """The compliance services custody's hooks consult; any of them None leaves its checks out."""

    screening: Screening | None = None
    kyc: Kyc | None = None
    operators: Operators | None = None
    audit: AuditLog | None = None
    value_of: ValueOf | None = None  # valuation for the AML rules when there is no ``kyc`` (else kyc.value)
    anomaly_review_score: float = 0.70  # a withdrawal scoring this or more needs an operator's approval
    ip: str = "local"  # where operator actions through these hooks come from (the command line)
    _held_recorded: set[str] = field(default_factory=set, repr=False)

    @property
    def travel_rule(self) -> TravelRule | None:
        if self.kyc is None:
            return None
        return TravelRule(self.kyc.store, self.kyc.settings.travel_rule_threshold)

    def _value(self, asset: str, amount: Decimal) -> Decimal | None:
        if self.kyc is not None:
            return self.kyc.value(asset, amount)
        return self.value_of(asset, amount) if self.value_of is not None else None

    def _record(self, action: str, target: str, details: dict[str, Any]) -> None:
        if self.audit is not None:
            self.audit.record("system", self.ip, action, target, details)

    # ------------------------------------------------------------------------------------ withdrawals

    async def gate(self, w: Withdrawal, history: list[Withdrawal], details: Mapping[str, Any]) -> Verdict:
        """``Withdrawals(gate=...)``: tier limits and Travel Rule (refusals), then screening and AML (holds)."""
        return await asyncio.to_thread(self._gate, w, history, details)

    def _gate(self, w: Withdrawal, history: list[Withdrawal], details: Mapping[str, Any]) -> Verdict:
        value = self._value(w.coin, w.amount)
        if self.kyc is not None:
            refused = self._kyc_withdrawal(w, value, history, details)
            if refused is not None:
                return refused
        if self.screening is None:
            return GO
        try:
            decision = self.screening.check_withdrawal(
                account_id=w.account_id,
                chain=w.network,
                destination=w.address,
                ref=withdrawal_ref(w),
                asset=w.coin,
                amount=w.amount,
                value=value if value is not None else ZERO,
                time_ms=w.created,
            )
        except NoListLoaded:
            return Verdict(refuse="withdrawals are paused: no sanctions list is loaded", code=SCREENING_DOWN)
        if not decision.allowed:
            reason = f"held by compliance (case {decision.case_id})"
            self._record(
                "compliance.hold",
                f"withdrawal:{w.id}",
                {"case": decision.case_id, "account": w.account_id, "asset": w.coin, "amount": format(w.amount, "f")},
            )
            return Verdict(hold=reason)
        if decision.case_id is not None:
            return Verdict(review=f"AML alert (case {decision.case_id})")
        return GO

    def _kyc_withdrawal(
        self, w: Withdrawal, value: Decimal | None, history: list[Withdrawal], details: Mapping[str, Any]
    ) -> Verdict | None:
        assert self.kyc is not None
        past = [PastWithdrawal(h.created, h.coin, h.amount) for h in history if h.status not in RELEASED]
        limits = self.kyc.withdrawal_allowed(w.account_id, w.coin, w.amount, w.created, past)
        if not limits.allowed:
            return Verdict(refuse=limits.reason, code=KYC_CODES.get(limits.code, KYC_LIMIT))
        travel = self.travel_rule
        beneficiary = details.get("beneficiary")
        if travel is None or value is None or not travel.required(value):
            return None
        if beneficiary:  # stored (sealed) under the withdrawal's id before the withdrawal is written
            try:
                travel.attach_beneficiary(w.id, dict(beneficiary), hosted=bool(details.get("hosted", True)))
            except TravelRuleError as exc:
                return Verdict(refuse=f"Travel Rule details refused: {exc}", code=TRAVEL_RULE)
        found = self.kyc.withdrawal_allowed(w.account_id, w.coin, w.amount, w.created, past, withdrawal_id=w.id)
        if found.allowed:
            return None
        return Verdict(refuse=found.reason, code=KYC_CODES.get(found.code, KYC_LIMIT))

    async def hold_state(self, w: Withdrawal) -> str:
        """``Withdrawals(hold_state=...)``: what the held withdrawal's case decided."""
        if self.screening is None:
            return "held"
        screening = self.screening
        hold = await asyncio.to_thread(screening.cases.hold, "withdrawal", withdrawal_ref(w))
        return "held" if hold is None else HOLD_STATE.get(hold.status, "held")

    def scorer(self, flow: CustodyFlowSettings) -> Scorer:
        """``Withdrawals(scorer=...)``: custody's own checks, then the IsolationForest score when it is trained."""
        base = default_scorer(flow)

        async def score(w: Withdrawal, history: list[Withdrawal]) -> str | None:
            flag = await base(w, history)
            if flag or self.screening is None or not self.screening.anomaly.trained:
                return flag
            value = self._value(w.coin, w.amount)
            if value is None:
                return None
            s = self.screening
            event = MoneyEvent(
                "withdrawal", w.account_id, w.coin, w.amount, value, w.created, withdrawal_ref(w), w.network, w.address
            )
            found = s.anomaly.score(event, s.monitor.history)
            if found is not None and found >= self.anomaly_review_score:
                return f"anomaly score {found:.3f} >= {self.anomaly_review_score}"
            return None

        return score

    async def authorize(self, operator: str, action: str, requester: str | None = None) -> bool:
        """``Withdrawals(authorize=...)``: the operator's role through ``compliance.operators.authorize``, and
        the separation of duties (the requester never approves). A refusal raises ``WithdrawalRefused``."""
        if self.operators is None:
            return bool(operator)
        ops = self.operators
        permission = CUSTODY_PERMISSIONS.get(action)
        if permission is None:
            raise WithdrawalRefused(f"unknown operator action {action}", -4034)
        try:
            if requester is not None and action == "withdrawal.approve":
                check_not_requester(requester, operator)
            op = await asyncio.to_thread(ops.get, operator)
            await asyncio.to_thread(ops.authorize, op, permission, self.ip)
        except NotAuthorized as exc:
            raise WithdrawalRefused(str(exc), -4033) from None
        except OperatorError as exc:
            raise WithdrawalRefused(str(exc), -4034) from None
        return True

    # ------------------------------------------------------------------------------------ deposits

    async def screen_deposit(self, dep: Deposit, sources: tuple[str, ...]) -> str:
        """``DepositFlow(screen=...)``: "credit", "hold" (a case holds it) or "return" (its case returned it)."""
        return await asyncio.to_thread(self._screen_deposit, dep, sources)

    def _screen_deposit(self, dep: Deposit, sources: tuple[str, ...]) -> str:
        if self.screening is None:
            return "credit"
        s = self.screening
        loaded = s.loaded
        # a payment from several addresses (Bitcoin inputs): the listed one, if any, is the one screened
        source = next((a for a in sources if loaded is not None and loaded.addresses.lookup(a)), None)
        source = source or (sources[0] if sources else None)
        value = self._value(dep.coin, dep.amount)
        try:
            decision = s.check_deposit(
                account_id=dep.account_id,
                chain=dep.chain,
                source_address=source,
                ref=deposit_ref(dep),
                asset=dep.coin,
                amount=dep.amount,
                value=value if value is not None else ZERO,
                time_ms=dep.created,
            )
        except NoListLoaded:
            log.error("deposit held: no sanctions list is loaded", deposit=dep.id)
            return "hold"
        if decision.allowed:
            return "credit"
        if decision.hold is not None and decision.hold.status == "returned":
            return "return"
        self._record_deposit_hold(dep, decision.case_id, source)
        return "hold"

    def _record_deposit_hold(self, dep: Deposit, case_id: int | None, source: str | None) -> None:
        if self.audit is None:
            return
        target = f"deposit:{dep.id}"
        if target in self._held_recorded:
            return
        self._held_recorded.add(target)
        if any(e.target == target for e in self.audit.entries(action="compliance.hold")):
            return  # asked again while still held (after a restart): recorded once
        self._record(
            "compliance.hold",
            target,
            {
                "case": case_id,
                "account": dep.account_id,
                "asset": dep.coin,
                "amount": format(dep.amount, "f"),
                "source": source,
            },
        )

    async def unlock_check(self, dep: Deposit) -> str | None:
        """``DepositFlow(unlock_check=...)``: a reason to keep the credited deposit locked, or None."""
        if self.kyc is None:
            return None
        kyc = self.kyc

        def check() -> str | None:
            found = kyc.deposit_allowed(dep.account_id, dep.coin, kyc.value(dep.coin, dep.amount), deposit_id=dep.id)
            return None if found.allowed else f"{found.code}: {found.reason}"

        return await asyncio.to_thread(check)

    async def open_case(self, account_id: int, reason: str, details: dict[str, Any]) -> None:
        """``DepositFlow(open_case=...)``: custody's own alarms (a reversed deposit already spent) become cases."""
        if self.screening is None:
            log.error("custody case (no case service)", account=account_id, reason=reason, **details)
            return
        cases = self.screening.cases

        def open_it() -> int:
            with cases.engine.begin() as conn:
                case = cases.open_case(
                    conn,
                    kind="custody",
                    account_id=account_id,
                    summary=f"account {account_id}: {reason}",
                    evidence={"rule": "custody", **details},
                    dedupe_key=f"custody:{reason}:{details.get('deposit', '')}",
                )
            self._record("compliance.case", f"case:{case.case_id}", {"account": account_id, "reason": reason})
            return case.case_id

        case_id = await asyncio.to_thread(open_it)
        log.warning("custody case opened", case_id=case_id, account=account_id, reason=reason)

    # ------------------------------------------------------------------------------------ wiring

    def withdrawal_hooks(self, flow: CustodyFlowSettings) -> dict[str, Any]:
        """Keyword arguments for ``Withdrawals(...)``."""
        return {
            "gate": self.gate,
            "hold_state": self.hold_state,
            "scorer": self.scorer(flow),
            "authorize": self.authorize,
        }

    def deposit_hooks(self) -> dict[str, Any]:
        """Keyword arguments for ``DepositFlow(...)``."""
        return {"screen": self.screen_deposit, "unlock_check": self.unlock_check, "open_case": self.open_case}


def custody_compliance_from(
    settings: Settings,
    backoffice: BackOffice | None,
    kyc: Kyc | None = None,
    price_of: Callable[[str], Decimal | None] | None = None,
) -> CustodyCompliance:
    """The hooks' services from the settings: screening and AML when ``screening.custody_checks`` and a sanctions
    list is loaded, or in production (then without a list custody waits; cases decided through the operators'
    roles and audited), tier limits and the Travel Rule when ``kyc.enforce`` (``kyc``),
    operators' roles for custody approvals when there is a back office. ``price_of``: an asset's price in the
    quote asset, for the AML rules' values when there is no ``kyc``."""
    audit = backoffice.audit if backoffice is not None else None
    screening = None
    if settings.screening.custody_checks:
        authorizer = OperatorAuthorizer(backoffice.operators) if backoffice is not None else None
        screening = screening_from_settings(settings, authorizer=authorizer, audit=audit)
        if screening.loaded is None and settings.env == "development":
            log.warning(
                "no sanctions list is loaded: custody runs unscreened in development "
                "(in production withdrawals pause and deposits wait until `braid compliance sanctions load`)"
            )
            screening = None

    def value_of(asset: str, amount: Decimal) -> Decimal | None:
        if asset == settings.kyc.quote_asset:
            return amount
        price = price_of(asset) if price_of is not None else None
        return None if price is None else amount * price

    return CustodyCompliance(
        screening=screening,
        kyc=kyc if settings.kyc.enforce else None,
        operators=backoffice.operators if backoffice is not None else None,
        audit=audit,
        value_of=value_of,
        anomaly_review_score=settings.screening.anomaly_review_score,
    )
