"""AML transaction monitoring: rules from a TOML file evaluated on deposits, withdrawals and trades.

Each money path passes one ``MoneyEvent``. Rules are plain predicates over the account's own history
(kept per account, oldest dropped past the longest window any rule needs):

- ``large_transaction``: value >= ``threshold``.
- ``structuring``: at least ``count`` events within ``window_hours`` each just under ``threshold`` (at or
  above ``threshold * (1 - margin)``), this one included.
- ``rapid_in_out``: a withdrawal of at least ``min_ratio`` of what the account deposited in the last
  ``window_hours`` (deposits >= ``min_value``), with traded value since then at most ``max_trade_ratio`` of it.
- ``velocity``: the value of the same kind of event in the last ``window_hours`` (this one included) is more
  than ``multiple`` times the account's average for such a window over the ``baseline_days`` before, once the
  account has ``baseline_days`` of history, and at least ``min_value``.
- ``high_risk_jurisdiction``: the event's country is in the rule's ``countries`` (default: the configured list).
- ``risky_counterparty``: the deposit source / withdrawal destination is on the sanctions list or appeared in
  an earlier case.
- ``anomaly``: the withdrawal anomaly model's score >= ``min_score``.

Any rule may also carry ``min_anomaly_score``: it then fires only on withdrawals scoring at least that.
A rule's ``mode`` is ``active`` (its alerts open cases; ``action = "hold"`` also holds the money) or
``shadow`` (alerts are recorded, nothing is opened or held).
"""

from __future__ import annotations

import bisect
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

EventKind = Literal["deposit", "withdrawal", "trade"]
KINDS: tuple[str, ...] = ("deposit", "withdrawal", "trade")
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
DEFAULT_RULES_FILE = Path(__file__).with_name("rules.default.toml")


class RuleError(ValueError):
    """A rules file that cannot be used; the message names the rule and the field."""


@dataclass(frozen=True, slots=True)
class MoneyEvent:
    """One deposit, withdrawal or trade, as the ledger, custody and trade paths report it.

    ``value`` is the amount in the reporting currency (custody and the order path value it at the
    consolidated mid). ``address`` is the deposit's source or the withdrawal's destination.
    """

    kind: str
    account_id: int
    asset: str
    amount: Decimal
    value: Decimal
    time_ms: int
    ref: str
    chain: str | None = None
    address: str | None = None
    country: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"event kind must be one of {', '.join(KINDS)}, was {self.kind!r}")
        if not (isinstance(self.value, Decimal) and self.value.is_finite() and self.value >= 0):
            raise ValueError(f"event value must be a finite non-negative Decimal, was {self.value!r}")
        if not self.ref:
            raise ValueError("event ref is required (it makes a repeat harmless)")


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    kind: str
    mode: str = "active"  # active | shadow
    action: str = "alert"  # alert | hold
    applies_to: tuple[str, ...] = KINDS
    params: dict[str, Any] = field(default_factory=dict)

    def dec(self, name: str, default: str | None = None) -> Decimal:
        raw = self.params.get(name, default)
        if raw is None:
            raise RuleError(f"rule {self.id}: {name} is required")
        try:
            value = Decimal(str(raw))
        except InvalidOperation as exc:
            raise RuleError(f"rule {self.id}: {name} is not a number: {raw!r}") from exc
        if not value.is_finite() or value < 0:
            raise RuleError(f"rule {self.id}: {name} must be a finite number >= 0, was {raw!r}")
        return value

    def window_ms(self, name: str = "window_hours", default: str = "24") -> int:
        return int(self.dec(name, default) * HOUR_MS)


@dataclass(frozen=True, slots=True)
class Alert:
    rule_id: str
    mode: str
    action: str
    event: MoneyEvent
    detail: str
    anomaly_score: float | None = None


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    source: str = ""

    def retention_ms(self) -> int:
        """How much history the rules need."""
        keep = 7 * DAY_MS
        for r in self.rules:
            keep = max(keep, r.window_ms() if "window_hours" in r.params else 0)
            if r.kind == "velocity":
                keep = max(keep, int(r.dec("baseline_days", "30") * DAY_MS) + r.window_ms())
        return keep


AML_NONE = RuleSet((), "no rules")

_RULE_KINDS = (
    "large_transaction",
    "structuring",
    "rapid_in_out",
    "velocity",
    "high_risk_jurisdiction",
    "risky_counterparty",
    "anomaly",
)
_REQUIRED = {
    "large_transaction": ("threshold",),
    "structuring": ("threshold", "margin", "count"),
    "rapid_in_out": ("min_ratio", "max_trade_ratio", "min_value"),
    "velocity": ("multiple", "min_value"),
    "anomaly": ("min_score",),
}


def parse_rules(text: str, source: str = "") -> RuleSet:
    """Rules from TOML text: ``[[rule]]`` tables with id, kind, mode, action, applies_to and the kind's knobs."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{source or 'rules'}: not TOML: {exc}") from exc
    rules: list[Rule] = []
    seen: set[str] = set()
    for n, raw in enumerate(doc.get("rule", []), start=1):
        raw = dict(raw)
        rid = str(raw.pop("id", "") or "")
        if not rid:
            raise RuleError(f"rule #{n}: id is required")
        if rid in seen:
            raise RuleError(f"rule {rid}: id used twice")
        seen.add(rid)
        kind = raw.pop("kind", None)
        if kind not in _RULE_KINDS:
            raise RuleError(f"rule {rid}: kind must be one of {', '.join(_RULE_KINDS)}, was {kind!r}")
        mode = raw.pop("mode", "active")
        if mode not in ("active", "shadow"):
            raise RuleError(f"rule {rid}: mode must be active or shadow, was {mode!r}")
        action = raw.pop("action", "alert")
        if action not in ("alert", "hold"):
            raise RuleError(f"rule {rid}: action must be alert or hold, was {action!r}")
        default_kinds = ("withdrawal",) if kind in ("anomaly", "rapid_in_out") else KINDS
        applies = tuple(raw.pop("applies_to", default_kinds))
        bad = [k for k in applies if k not in KINDS]
        if bad or not applies:
            raise RuleError(f"rule {rid}: applies_to must list kinds of {', '.join(KINDS)}, was {applies!r}")
        rule = Rule(rid, kind, mode, action, applies, raw)
        for name in _REQUIRED.get(kind, ()):
            rule.dec(name)  # present and numeric
        for name, value in raw.items():
            if name not in ("countries",) and not isinstance(value, (str, int, float)):
                raise RuleError(f"rule {rid}: {name} must be a number, was {value!r}")
        rules.append(rule)
    if not rules:
        raise RuleError(f"{source or 'rules'}: no [[rule]] tables")
    return RuleSet(tuple(rules), source)


def load_rules(path: str | Path | None = None) -> RuleSet:
    p = Path(path) if path else DEFAULT_RULES_FILE
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleError(f"cannot read rules file {p}: {exc.strerror}") from exc
    return parse_rules(text, str(p))


class History:
    """Each account's recent events, in time order."""

    def __init__(self, retention_ms: int) -> None:
        self.retention_ms = retention_ms
        self._by_account: dict[int, list[MoneyEvent]] = {}
        self._times: dict[int, list[int]] = {}
        self._first_seen: dict[int, int] = {}

    def add(self, e: MoneyEvent) -> None:
        evs = self._by_account.setdefault(e.account_id, [])
        ts = self._times.setdefault(e.account_id, [])
        i = bisect.bisect_right(ts, e.time_ms)
        evs.insert(i, e)
        ts.insert(i, e.time_ms)
        self._first_seen[e.account_id] = min(self._first_seen.get(e.account_id, e.time_ms), e.time_ms)
        cut = bisect.bisect_left(ts, e.time_ms - self.retention_ms)
        if cut:
            del evs[:cut]
            del ts[:cut]

    def between(self, account_id: int, start_ms: int, end_ms: int) -> list[MoneyEvent]:
        """Events with start_ms <= time < end_ms."""
        ts = self._times.get(account_id, [])
        evs = self._by_account.get(account_id, [])
        return evs[bisect.bisect_left(ts, start_ms) : bisect.bisect_left(ts, end_ms)]

    def before(self, account_id: int, end_ms: int) -> list[MoneyEvent]:
        return self.between(account_id, -(2**62), end_ms)

    def first_seen(self, account_id: int) -> int | None:
        return self._first_seen.get(account_id)


@dataclass
class Context:
    """What the rules consult beyond the account's history."""

    high_risk_countries: frozenset[str] = frozenset()
    # the reason an address is risky (a sanctions listing, an earlier case), or None
    counterparty: Callable[[str | None, str], str | None] = lambda chain, address: None
    # the withdrawal anomaly score, or None when no model is trained
    anomaly_score: Callable[[MoneyEvent, History], float | None] = lambda e, h: None


def _fmt(v: Decimal) -> str:
    return format(v.normalize(), "f") if v else "0"


def _check(rule: Rule, e: MoneyEvent, h: History, ctx: Context) -> str | None:
    """The detail of a firing, or None."""
    k = rule.kind
    if k == "large_transaction":
        t = rule.dec("threshold")
        return f"value {_fmt(e.value)} >= {_fmt(t)}" if e.value >= t else None
    if k == "structuring":
        t, margin, count = rule.dec("threshold"), rule.dec("margin"), int(rule.dec("count"))
        low = t * (1 - margin)
        if not (low <= e.value < t):
            return None
        w = rule.window_ms()
        near = [
            x
            for x in h.between(e.account_id, e.time_ms - w + 1, e.time_ms + 1)
            if x.kind in rule.applies_to and low <= x.value < t and x.ref != e.ref
        ]
        n = len(near) + 1
        if n >= count:
            return f"{n} amounts in [{_fmt(low)}, {_fmt(t)}) within {_fmt(rule.dec('window_hours', '24'))}h"
        return None
    if k == "rapid_in_out":
        if e.kind != "withdrawal":
            return None
        w = rule.window_ms()
        recent = h.between(e.account_id, e.time_ms - w + 1, e.time_ms + 1)
        deposits = [x for x in recent if x.kind == "deposit"]
        dep = sum((x.value for x in deposits), Decimal(0))
        if not deposits or dep < rule.dec("min_value") or e.value < rule.dec("min_ratio") * dep:
            return None
        first = deposits[0].time_ms
        traded = sum((x.value for x in recent if x.kind == "trade" and x.time_ms >= first), Decimal(0))
        if traded > rule.dec("max_trade_ratio") * dep:
            return None
        return (
            f"withdrawal {_fmt(e.value)} after deposits {_fmt(dep)} within "
            f"{_fmt(rule.dec('window_hours', '24'))}h, traded {_fmt(traded)}"
        )
    if k == "velocity":
        w = rule.window_ms()
        base_ms = int(rule.dec("baseline_days", "30") * DAY_MS)
        started = h.first_seen(e.account_id)
        if started is None or e.time_ms - started < base_ms + w:
            return None  # not enough history for a baseline of its own
        window = [x for x in h.between(e.account_id, e.time_ms - w + 1, e.time_ms + 1) if x.kind == e.kind]
        now = sum((x.value for x in window), e.value)
        if now < rule.dec("min_value"):
            return None
        past = [x for x in h.between(e.account_id, e.time_ms - w - base_ms + 1, e.time_ms - w + 1) if x.kind == e.kind]
        baseline = sum((x.value for x in past), Decimal(0)) * Decimal(w) / Decimal(base_ms)
        if now > rule.dec("multiple") * baseline:
            hours = _fmt(rule.dec("window_hours", "24"))
            return f"{e.kind} value {_fmt(now)} in {hours}h vs baseline {_fmt(baseline.quantize(Decimal('0.01')))}"
        return None
    if k == "high_risk_jurisdiction":
        countries = frozenset(c.upper() for c in rule.params.get("countries", ())) or ctx.high_risk_countries
        if e.country and e.country.upper() in countries:
            return f"country {e.country.upper()} is high-risk"
        return None
    if k == "risky_counterparty":
        if not e.address:
            return None
        why = ctx.counterparty(e.chain, e.address)
        return f"counterparty {e.address}: {why}" if why else None
    if k == "anomaly":
        if e.kind != "withdrawal":
            return None
        score = ctx.anomaly_score(e, h)
        if score is None or Decimal(repr(score)) < rule.dec("min_score"):
            return None
        return f"anomaly score {score:.3f} >= {_fmt(rule.dec('min_score'))}"
    raise RuleError(f"rule {rule.id}: unknown kind {k}")


class Monitor:
    """Evaluates a rule set on events as they come, keeping each account's history."""

    def __init__(self, rules: RuleSet, context: Context | None = None) -> None:
        self.rules = rules
        self.context = context or Context()
        self.history = History(rules.retention_ms())

    def warm(self, events: Iterable[MoneyEvent]) -> None:
        """Add past events to the history without evaluating them."""
        for e in events:
            self.history.add(e)

    def evaluate(self, e: MoneyEvent) -> list[Alert]:
        """The alerts ``e`` raises (rules see the history before it), then ``e`` joins the history."""
        out: list[Alert] = []
        score: float | None = None
        scored = False
        for rule in self.rules.rules:
            if e.kind not in rule.applies_to:
                continue
            detail = _check(rule, e, self.history, self.context)
            if detail is None:
                continue
            if e.kind == "withdrawal" and not scored:
                score, scored = self.context.anomaly_score(e, self.history), True
            if "min_anomaly_score" in rule.params:
                if e.kind != "withdrawal" or score is None or Decimal(repr(score)) < rule.dec("min_anomaly_score"):
                    continue
                detail += f"; anomaly score {score:.3f}"
            out.append(Alert(rule.id, rule.mode, rule.action, e, detail, score))
        self.history.add(e)
        return out


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_alert(a: Alert) -> str:
    e = a.event
    return (
        f"{iso(e.time_ms)}  {a.rule_id:<24} {a.mode:<6} {a.action:<5} account={e.account_id} {e.kind} "
        f"{_fmt(e.amount)} {e.asset} value={_fmt(e.value)} ref={e.ref}  {a.detail}"
    )


def summarise(alerts: Sequence[Alert], rules: RuleSet) -> list[str]:
    counts = {r.id: 0 for r in rules.rules}
    for a in alerts:
        counts[a.rule_id] += 1
    return [f"{rid}: {n}" for rid, n in counts.items()]
