"""Each AML rule: a scenario that fires it, and one just outside it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from itertools import count

import pytest
from sqlalchemy import select

from compliance import MoneyEvent, Monitor, RuleError, Screening, parse_rules
from compliance.aml import DAY_MS, HOUR_MS, Context, load_rules
from compliance.anomaly import AnomalyModel, population_features, withdrawal_features
from compliance.models import alerts as alerts_table
from compliance.sanctions import SanctionsList
from compliance.screening import LoadedList

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
RULES = """
[[rule]]
id = "large"
kind = "large_transaction"
threshold = "10000"

[[rule]]
id = "structuring"
kind = "structuring"
applies_to = ["deposit", "withdrawal"]
threshold = "10000"
margin = "0.10"
count = 3
window_hours = 24

[[rule]]
id = "rapid"
kind = "rapid_in_out"
window_hours = 48
min_value = "1000"
min_ratio = "0.8"
max_trade_ratio = "0.1"

[[rule]]
id = "velocity"
kind = "velocity"
applies_to = ["deposit"]
window_hours = 24
baseline_days = 30
multiple = "5"
min_value = "1000"

[[rule]]
id = "jurisdiction"
kind = "high_risk_jurisdiction"
countries = ["KP", "IR"]

[[rule]]
id = "counterparty"
kind = "risky_counterparty"

[[rule]]
id = "anomaly"
kind = "anomaly"
min_score = "0.65"
"""
_refs: Iterator[int] = count(1)


def ev(
    kind: str, value: str, hours: float, *, account: int = 1, address: str | None = None, country: str | None = None
) -> MoneyEvent:
    return MoneyEvent(
        kind,
        account,
        "USDT",
        Decimal(value),
        Decimal(value),
        T0 + int(hours * HOUR_MS),
        f"{kind}-{next(_refs)}",
        "ETH" if address else None,
        address,
        country,
    )


def fired(m: Monitor, e: MoneyEvent) -> list[str]:
    return [a.rule_id for a in m.evaluate(e)]


@pytest.fixture
def monitor() -> Monitor:
    return Monitor(parse_rules(RULES, "test rules"))


def test_large_transaction(monitor: Monitor) -> None:
    assert fired(monitor, ev("trade", "9999.99", 0)) == []
    assert fired(monitor, ev("trade", "10000", 1)) == ["large"]


def test_structuring(monitor: Monitor) -> None:
    assert fired(monitor, ev("deposit", "9500", 0)) == []
    assert fired(monitor, ev("deposit", "9000", 10)) == []  # 9000 = 10000 - 10 %: just under counts
    assert fired(monitor, ev("deposit", "9900", 23.9)) == ["structuring"]  # third within 24 h
    other = Monitor(parse_rules(RULES))
    fired(other, ev("deposit", "9500", 0))
    fired(other, ev("deposit", "9000", 10))
    assert fired(other, ev("deposit", "9900", 24)) == []  # the first fell out of the window
    assert fired(other, ev("deposit", "8999.99", 12)) == []  # below the band


def test_rapid_in_and_out(monitor: Monitor) -> None:
    fired(monitor, ev("deposit", "5000", 0))
    fired(monitor, ev("trade", "500", 1))  # 10 % traded: still "little"
    assert fired(monitor, ev("withdrawal", "4000", 47)) == ["rapid"]  # 80 % out within 48 h
    other = Monitor(parse_rules(RULES))
    fired(other, ev("deposit", "5000", 0))
    fired(other, ev("trade", "500.01", 1))
    assert fired(other, ev("withdrawal", "4000", 47)) == []  # traded a little more than 10 %
    third = Monitor(parse_rules(RULES))
    fired(third, ev("deposit", "5000", 0))
    assert fired(third, ev("withdrawal", "3999.99", 47)) == []  # less than 80 % out


def _daily_history(m: Monitor) -> None:
    for day in range(30):
        fired(m, ev("deposit", "1000", day * 24))


def test_velocity_against_the_accounts_own_baseline(monitor: Monitor) -> None:
    # baseline: 29 deposits of 1000 in the 30 days before the window -> 966.67 a day; 5x = 4833.33
    _daily_history(monitor)
    assert fired(monitor, ev("deposit", "4834", 31 * 24)) == ["velocity"]
    other = Monitor(parse_rules(RULES))
    _daily_history(other)
    assert fired(other, ev("deposit", "4833", 31 * 24)) == []
    young = Monitor(parse_rules(RULES))  # an account without 31 days of history has no baseline yet
    fired(young, ev("deposit", "10", 0))
    assert "velocity" not in fired(young, ev("deposit", "9999", 30 * 24))


def test_high_risk_jurisdiction(monitor: Monitor) -> None:
    assert fired(monitor, ev("deposit", "10", 0, country="kp")) == ["jurisdiction"]
    assert fired(monitor, ev("deposit", "10", 1, country="KR")) == []


def test_counterparty_listed_in_sanctions(sdn: SanctionsList) -> None:
    listed = LoadedList.build(1, sdn)
    m = Monitor(parse_rules(RULES), Context(counterparty=lambda chain, a: listed.listing_reason(a)))
    assert fired(m, ev("deposit", "10", 0, address="0x098b716b8aaf21512996dc57eb0615e2383e2f96")) == ["counterparty"]
    assert fired(m, ev("deposit", "10", 1, address="0x098b716b8aaf21512996dc57eb0615e2383e2f97")) == []


def test_counterparty_seen_in_an_earlier_case(make_screening: Callable[..., Screening]) -> None:
    s = make_screening(rules=parse_rules(RULES))
    first = s.check_withdrawal(
        account_id=1,
        chain="ETH",
        destination="0x1111111111111111111111111111111111111111",
        ref="w-big",
        asset="USDT",
        amount=Decimal(20000),
        value=Decimal(20000),
    )
    assert first.case_id is not None and [a.rule_id for a in first.alerts] == ["large"]
    later = s.check_deposit(
        account_id=2,
        chain="ETH",
        source_address="0x1111111111111111111111111111111111111111",
        ref="d-1",
        asset="USDT",
        amount=Decimal(5),
        value=Decimal(5),
    )
    assert [a.rule_id for a in later.alerts] == ["counterparty"]
    assert f"seen in case {first.case_id}" in later.alerts[0].detail
    fresh = s.check_deposit(
        account_id=2,
        chain="ETH",
        source_address="0x2222222222222222222222222222222222222222",
        ref="d-2",
        asset="USDT",
        amount=Decimal(5),
        value=Decimal(5),
    )
    assert fresh.alerts == () and fresh.allowed


def _population() -> list[MoneyEvent]:
    """50 accounts, each depositing and withdrawing ordinary amounts to its usual address over 60 days."""
    evs = []
    for acc in range(1, 51):
        base = 100 + acc * 7
        for week in range(8):
            h = week * 7 * 24 + acc
            evs.append(
                MoneyEvent(
                    "deposit",
                    acc,
                    "USDT",
                    Decimal(base * 3),
                    Decimal(base * 3),
                    T0 + h * HOUR_MS,
                    f"d{acc}-{week}",
                    "ETH",
                    f"0xsrc{acc}",
                    None,
                )
            )
            amount = Decimal(base + (week % 3) * 10)
            evs.append(
                MoneyEvent(
                    "withdrawal",
                    acc,
                    "USDT",
                    amount,
                    amount,
                    T0 + (h + 72) * HOUR_MS,
                    f"w{acc}-{week}",
                    "ETH",
                    f"0xhome{acc}",
                    None,
                )
            )
    return evs


def test_the_anomaly_model_flags_an_obvious_outlier() -> None:
    evs = _population()
    model = AnomalyModel().fit_events(evs)
    assert model.trained_on == 400
    m = Monitor(parse_rules(RULES), Context(anomaly_score=model.score))
    m.warm(evs)
    t = T0 + 60 * DAY_MS
    usual = MoneyEvent("withdrawal", 7, "USDT", Decimal(169), Decimal(169), t, "usual", "ETH", "0xhome7")
    odd = MoneyEvent("withdrawal", 8, "USDT", Decimal(90000), Decimal(90000), t + 1, "odd", "ETH", "0xnew")
    score_usual, score_odd = model.score(usual, m.history), model.score(odd, m.history)
    assert score_usual is not None and score_odd is not None
    assert score_usual < 0.6 and score_odd > 0.65
    assert "anomaly" not in fired(m, usual)
    assert "anomaly" in fired(m, odd)
    # deterministic: a model fitted again on the same history gives the same scores
    again = AnomalyModel().fit(population_features(evs))
    assert again.score_features(withdrawal_features(odd, m.history)) == model.score_features(
        withdrawal_features(odd, m.history)
    )


def test_a_rule_can_require_the_anomaly_score() -> None:
    evs = _population()
    model = AnomalyModel().fit_events(evs)
    rules = parse_rules(
        '[[rule]]\nid = "big-and-odd"\nkind = "large_transaction"\napplies_to = ["withdrawal"]\n'
        'threshold = "400"\nmin_anomaly_score = "0.65"\n'
    )
    m = Monitor(rules, Context(anomaly_score=model.score))
    m.warm(evs)
    # 460 to the account's usual address, a few days after its deposit: over the threshold, but not odd
    t = T0 + (7 * 7 * 24 + 50 + 96) * HOUR_MS
    assert fired(m, MoneyEvent("withdrawal", 50, "USDT", Decimal(460), Decimal(460), t, "a", "ETH", "0xhome50")) == []
    assert fired(m, MoneyEvent("withdrawal", 9, "USDT", Decimal(90000), Decimal(90000), t, "b", "ETH", "0xnew")) == [
        "big-and-odd"
    ]


def test_shadow_rules_record_alerts_and_hold_nothing(make_screening: Callable[..., Screening]) -> None:
    rules = parse_rules(
        '[[rule]]\nid = "large-shadow"\nkind = "large_transaction"\nthreshold = "10000"\n'
        'action = "hold"\nmode = "shadow"\n'
    )
    s = make_screening(rules=rules)
    d = s.check_withdrawal(
        account_id=4,
        chain="BTC",
        destination="bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        ref="w-s",
        asset="BTC",
        amount=Decimal(1),
        value=Decimal(60000),
    )
    assert d.allowed and d.hold is None and d.case_id is None and [a.mode for a in d.alerts] == ["shadow"]
    with s.engine.connect() as conn:
        rows = conn.execute(select(alerts_table)).all()
    assert [(r.rule_id, r.mode, r.event_ref, r.case_id) for r in rows] == [("large-shadow", "shadow", "w-s", None)]
    active = make_screening(
        rules=parse_rules(
            '[[rule]]\nid = "large-hold"\nkind = "large_transaction"\nthreshold = "10000"\naction = "hold"\n'
        )
    )
    h = active.check_withdrawal(
        account_id=4,
        chain="BTC",
        destination="bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        ref="w-t",
        asset="BTC",
        amount=Decimal(1),
        value=Decimal(60000),
    )
    assert not h.allowed and h.hold is not None and active.cases.get(h.case_id).evidence["rule"] == "large-hold"


def test_the_shipped_rules_load_and_bad_rules_are_refused() -> None:
    shipped = load_rules()
    assert {r.kind for r in shipped.rules} == {
        "large_transaction",
        "structuring",
        "rapid_in_out",
        "velocity",
        "high_risk_jurisdiction",
        "risky_counterparty",
        "anomaly",
    }
    with pytest.raises(RuleError, match="kind must be one of"):
        parse_rules('[[rule]]\nid = "x"\nkind = "magic"\n')
    with pytest.raises(RuleError, match="threshold is required"):
        parse_rules('[[rule]]\nid = "x"\nkind = "large_transaction"\n')
    with pytest.raises(RuleError, match="not a number"):
        parse_rules('[[rule]]\nid = "x"\nkind = "large_transaction"\nthreshold = "lots"\n')
    with pytest.raises(RuleError, match="mode must be"):
        parse_rules('[[rule]]\nid = "x"\nkind = "large_transaction"\nthreshold = "1"\nmode = "loud"\n')
    with pytest.raises(RuleError, match="id used twice"):
        parse_rules('[[rule]]\nid = "x"\nkind = "large_transaction"\nthreshold = "1"\n' * 2)
    with pytest.raises(RuleError, match="cannot read rules file"):
        load_rules("/nonexistent/rules.toml")


def test_trades_raise_alerts_but_never_hold(make_screening: Callable[..., Screening]) -> None:
    s = make_screening(
        rules=parse_rules(
            '[[rule]]\nid = "large-hold"\nkind = "large_transaction"\nthreshold = "10000"\naction = "hold"\n'
        )
    )
    d = s.observe_trade(account_id=5, asset="BTC", amount=Decimal(1), value=Decimal(60000), ref="trade:1")
    assert d.allowed and d.hold is None and d.case_id is not None
    assert s.cases.get(d.case_id).kind == "aml" and s.cases.holds_of(d.case_id) == []


def test_the_service_trains_the_anomaly_model_once_it_has_enough_withdrawals(
    make_screening: Callable[..., Screening],
) -> None:
    s = make_screening(anomaly_min_training=400)
    for e in _population()[:-1]:  # 399 withdrawals
        s.check(e)
    assert s.train_anomaly_model() == 0 and not s.anomaly.trained
    last = _population()[-1]
    s.check(last)
    assert s.train_anomaly_model() == 400 and s.anomaly.trained
    # a restarted service trains itself from the recorded events
    assert Screening(s.engine, anomaly_min_training=400).anomaly.trained_on == 400
