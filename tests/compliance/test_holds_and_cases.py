"""Custody's calls: a sanctioned counterparty holds the money and opens a case; only closing the case, by a
second operator, releases or returns it."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from compliance import (
    CaseError,
    CaseNotFound,
    CaseStateError,
    FourEyesViolation,
    Hold,
    NoListLoaded,
    PermissionDenied,
    Screening,
)
from compliance.cases import SYSTEM

LAZARUS_ETH = "0x098B716B8Aaf21512996dC57EB0615e2383E2f96"
CLEAN_BTC = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"


def test_a_sanctioned_deposit_source_is_held_with_a_case(make_screening: Callable[..., Screening]) -> None:
    s = make_screening()
    d = s.check_deposit(
        account_id=7,
        chain="BTC",
        source_address="149w62rY42aZBox8fGcmqNsXUzSStKeq8C",
        ref="tx-a:0",
        asset="BTC",
        amount=Decimal("0.5"),
        value=Decimal(30000),
    )
    assert not d.allowed and d.hold is not None and d.case_id == d.hold.case_id
    assert (d.hold.direction, d.hold.ref, d.hold.amount, d.hold.status) == ("deposit", "tx-a:0", Decimal("0.5"), "held")
    case = s.cases.get(d.case_id)
    assert case.kind == "sanctions-address" and case.opened_by == SYSTEM and case.account_id == 7
    assert case.evidence["sanctions"][0]["name"] == "KHORASHADIZADEH, Ali"
    assert case.evidence["listVersion"] == s.current.label == d.list_version
    assert s.cases.hold("deposit", "tx-a:0") == d.hold
    # custody asking again (after a restart) gets the same hold, and no second case
    again = s.check_deposit(
        account_id=7,
        chain="BTC",
        source_address="149w62rY42aZBox8fGcmqNsXUzSStKeq8C",
        ref="tx-a:0",
        asset="BTC",
        amount=Decimal("0.5"),
        value=Decimal(30000),
    )
    assert not again.allowed and again.hold == d.hold and len(s.cases.find()) == 1


def test_a_sanctioned_withdrawal_destination_is_held_on_any_evm_chain(make_screening: Callable[..., Screening]) -> None:
    s = make_screening()
    # listed under ETH in EIP-55 case; asked about on BSC, lower-cased
    d = s.check_withdrawal(
        account_id=8,
        chain="BSC",
        destination=LAZARUS_ETH.lower(),
        ref="w-1",
        asset="USDT",
        amount=Decimal(2500),
        value=Decimal(2500),
    )
    assert not d.allowed and d.hold is not None and d.hold.direction == "withdrawal" and d.hold.chain == "BSC"
    assert s.cases.get(d.case_id).evidence["sanctions"][0]["name"] == "LAZARUS GROUP"
    ok = s.check_withdrawal(
        account_id=8,
        chain="BTC",
        destination=CLEAN_BTC,
        ref="w-2",
        asset="BTC",
        amount=Decimal("0.01"),
        value=Decimal(600),
    )
    assert ok.allowed and ok.hold is None and ok.case_id is None


def test_closing_releases_or_returns_the_money_only_by_a_second_operator(
    make_screening: Callable[..., Screening],
) -> None:
    s = make_screening()
    resolved: list[Hold] = []
    s.cases.on_hold_resolved(resolved.append)
    d = s.check_deposit(
        account_id=7,
        chain="ETH",
        source_address=LAZARUS_ETH,
        ref="tx-b:3",
        asset="ETH",
        amount=Decimal("1.25"),
        value=Decimal(4000),
    )
    cid = d.case_id
    assert cid is not None
    with pytest.raises(CaseStateError, match="investigate it before closing"):
        s.cases.close(cid, "bob", resolution="looks fine", funds="release")
    s.cases.assign(cid, "alice", actor="carol")
    s.cases.investigate(cid, actor="alice")
    s.cases.note(cid, "wallet clustered with the Ronin exploit", actor="alice")
    with pytest.raises(FourEyesViolation, match="investigated by alice"):
        s.cases.close(cid, "alice", resolution="confirmed", funds="return")
    with pytest.raises(CaseError, match="say release or return"):
        s.cases.close(cid, "bob", resolution="confirmed")
    assert s.cases.hold("deposit", "tx-b:3").status == "held" and resolved == []  # nothing changed
    closed = s.cases.close(cid, "bob", resolution="confirmed SDN counterparty", funds="return", sar_filed=True)
    assert (closed.state, closed.closed_by, closed.funds, closed.sar_filed) == ("closed", "bob", "return", True)
    h = s.cases.hold("deposit", "tx-b:3")
    assert h is not None and (h.status, h.resolved_by) == ("returned", "bob") and resolved == [h]
    assert [e.action for e in s.cases.history(cid)] == ["open", "hold", "assign", "investigate", "note", "close"]
    with pytest.raises(CaseStateError, match="is closed"):
        s.cases.assign(cid, "carol", actor="carol")
    s.cases.note(cid, "SAR reference 2026-0001", actor="carol")  # notes may follow a close
    # the closed case's cause may raise a new case later (its dedupe key is freed)
    assert (
        s.check_deposit(
            account_id=7,
            chain="ETH",
            source_address=LAZARUS_ETH,
            ref="tx-c:0",
            asset="ETH",
            amount=Decimal(1),
            value=Decimal(1),
        ).case_id
        != cid
    )


def test_a_human_opener_cannot_close_and_escalation_counts_as_investigation(
    make_screening: Callable[..., Screening],
) -> None:
    s = make_screening()
    with s.engine.begin() as conn:
        case = s.cases.open_case(
            conn, kind="aml", summary="referred by support", evidence={}, account_id=3, opened_by="dave"
        )
    s.cases.escalate(case.case_id, actor="erin", reason="large amounts")
    with pytest.raises(FourEyesViolation, match="opened by dave"):
        s.cases.close(case.case_id, "dave", resolution="fine")
    with pytest.raises(FourEyesViolation, match="investigated by erin"):
        s.cases.close(case.case_id, "erin", resolution="fine")
    with pytest.raises(CaseError, match="holds no money"):
        s.cases.close(case.case_id, "frank", resolution="fine", funds="release")
    done = s.cases.close(case.case_id, "frank", resolution="customer explained the source of funds")
    assert done.state == "closed" and done.funds is None
    with pytest.raises(CaseNotFound):
        s.cases.get(999)


def test_the_permission_check_is_one_call_the_lead_can_wire(make_screening: Callable[..., Screening]) -> None:
    class OnlyOfficers:
        def authorize(self, actor: str, permission: str, case_id: int | None) -> None:
            if permission == "case.close" and actor != "officer":
                raise PermissionDenied(f"{actor} may not {permission}")

    s = make_screening()
    s.cases.authorizer = OnlyOfficers()
    d = s.check_withdrawal(
        account_id=1,
        chain="ETH",
        destination=LAZARUS_ETH,
        ref="w-9",
        asset="ETH",
        amount=Decimal(1),
        value=Decimal(3000),
    )
    s.cases.investigate(d.case_id, actor="alice")
    with pytest.raises(PermissionDenied, match="bob may not case.close"):
        s.cases.close(d.case_id, "bob", resolution="ok", funds="release")
    assert s.cases.close(d.case_id, "officer", resolution="ok", funds="release").funds == "release"
    assert s.cases.hold("withdrawal", "w-9").status == "released"


def test_screening_without_a_list_refuses(make_screening: Callable[..., Screening]) -> None:
    s = make_screening(load=False)
    with pytest.raises(NoListLoaded):
        s.screen_name("Xiaobing Yan")
    with pytest.raises(NoListLoaded):
        s.check_deposit(
            account_id=1,
            chain="BTC",
            source_address=CLEAN_BTC,
            ref="t:0",
            asset="BTC",
            amount=Decimal(1),
            value=Decimal(1),
        )
