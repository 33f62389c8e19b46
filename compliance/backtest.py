"""Replaying history through a rule set: what the rules would have flagged.

History comes from event sources: the trades in the wallets store, and deposits and withdrawals through
``EventSource`` (custody implements it over its tables; until then a JSON-lines file of events does). Events
before ``since`` build the accounts' history and train the anomaly model; events from ``since`` on are
evaluated in time order, every rule as if active, and each firing is printed with its rule's own mode.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

import orjson
from sqlalchemy import Engine, select

from compliance.aml import (
    Alert,
    Context,
    MoneyEvent,
    Monitor,
    RuleSet,
    format_alert,
    iso,
    summarise,
)
from compliance.anomaly import AnomalyModel, population_features
from compliance.sanctions import normalise_address
from wallets.models import trades as trades_table

# Quote assets whose amounts count as the reporting currency (USD) when trades are valued.
USD_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "USD", "DAI")


class EventSource(Protocol):
    def events(self) -> Iterable[MoneyEvent]:
        """Every event the source holds (any order: the backtest sorts them)."""


class EventFileError(ValueError):
    """A line of an event file that is not an event; the message names the line."""


def _time_ms(raw: Any) -> int:
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        text = raw.replace("Z", "+00:00")
        t = datetime.fromisoformat(text)
        if t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        return int(t.timestamp() * 1000)
    raise ValueError(f"time must be milliseconds or an ISO 8601 string, was {raw!r}")


class JsonlEventSource:
    """Events from a JSON-lines file, one object a line:

    ``{"kind": "deposit", "account": 7, "asset": "BTC", "amount": "0.25", "value": "15000",
    "time": "2026-01-02T03:04:05Z", "ref": "tx1:0", "chain": "BTC", "address": "bc1...", "country": "DE"}``
    (amounts and values as decimal strings; ``time`` ISO 8601 or integer milliseconds; the last three optional).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def events(self) -> Iterator[MoneyEvent]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise EventFileError(f"cannot read {self.path}: {exc.strerror}") from exc
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                o = orjson.loads(line)
                yield MoneyEvent(
                    kind=o["kind"],
                    account_id=int(o["account"]),
                    asset=str(o["asset"]),
                    amount=Decimal(str(o["amount"])),
                    value=Decimal(str(o["value"])),
                    time_ms=_time_ms(o["time"]),
                    ref=str(o["ref"]),
                    chain=o.get("chain"),
                    address=o.get("address"),
                    country=o.get("country"),
                )
            except (orjson.JSONDecodeError, KeyError, ValueError, InvalidOperation, TypeError) as exc:
                raise EventFileError(f"{self.path}:{n}: not an event ({exc!r})") from exc


class TradeEventSource:
    """Client trades from the wallets store, valued at their quote amount when the quote is a USD coin."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.skipped = 0  # trades in other quote currencies (no USD value to give them)

    def events(self) -> Iterator[MoneyEvent]:
        t = trades_table
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.c.trade_id, t.c.account_id, t.c.symbol, t.c.qty, t.c.quote_qty, t.c.time).order_by(
                    t.c.time, t.c.trade_id
                )
            ).all()
        for r in rows:
            symbol = r.symbol.replace("/", "").replace("-", "").upper()
            quote = next((q for q in USD_QUOTES if symbol.endswith(q) and len(symbol) > len(q)), None)
            if quote is None:
                self.skipped += 1
                continue
            yield MoneyEvent(
                "trade", r.account_id, symbol[: -len(quote)], r.qty, r.quote_qty, r.time, f"trade:{r.trade_id}"
            )


@dataclass(frozen=True)
class BacktestResult:
    alerts: tuple[Alert, ...]
    history_events: int  # before since: history only
    replayed_events: int
    anomaly_trained_on: int  # withdrawals the anomaly model learnt from (0: not trained)


_ORDER = {"deposit": 0, "trade": 1, "withdrawal": 2}


def backtest(
    rules: RuleSet,
    sources: Iterable[EventSource],
    since_ms: int,
    *,
    high_risk_countries: Iterable[str] = (),
    listed_address: Any = None,
    anomaly_min_training: int = 50,
) -> BacktestResult:
    """Replay the sources' events from ``since_ms`` through ``rules``.

    ``listed_address(address) -> str | None`` names a sanctions listing (the loaded list's index), if any;
    addresses of events flagged earlier in the replay count as "seen in a case".
    """
    events = sorted((e for s in sources for e in s.events()), key=lambda e: (e.time_ms, _ORDER[e.kind], e.ref))
    before = [e for e in events if e.time_ms < since_ms]
    after = [e for e in events if e.time_ms >= since_ms]
    model = AnomalyModel(random_state=0)
    rows = population_features(before)
    if len(rows) >= max(2, anomaly_min_training):
        model.fit(rows)
    flagged: dict[str, str] = {}

    def counterparty(chain: str | None, address: str) -> str | None:
        why = listed_address(address) if listed_address is not None else None
        return why or (
            f"seen in an alert on {flagged[normalise_address(address)]}"
            if normalise_address(address) in flagged
            else None
        )

    monitor = Monitor(rules, Context(frozenset(c.upper() for c in high_risk_countries), counterparty, model.score))
    monitor.warm(before)
    alerts: list[Alert] = []
    for e in after:
        got = monitor.evaluate(e)
        if got and e.address:
            flagged.setdefault(normalise_address(e.address), e.ref)
        alerts.extend(got)
    return BacktestResult(tuple(alerts), len(before), len(after), model.trained_on)


def format_backtest(result: BacktestResult, rules: RuleSet, since_ms: int) -> str:
    lines = [
        f"backtest of {rules.source or 'rules'} since {iso(since_ms)}: {result.replayed_events} events replayed, "
        f"{result.history_events} before as history; anomaly model "
        + (f"trained on {result.anomaly_trained_on} withdrawals" if result.anomaly_trained_on else "not trained")
    ]
    lines += [format_alert(a) for a in result.alerts]
    lines.append(f"{len(result.alerts)} alerts: " + ", ".join(summarise(result.alerts, rules)))
    return "\n".join(lines) + "\n"
