"""Realised gains and losses of one account's trades for a tax year: FIFO, HIFO or average cost.

Every trade of the account (``braid_trades``) is replayed in time order up to the end of the year. A buy
acquires a lot of the base asset; a sell disposes of units. A trade against a crypto quote (ETH/BTC) is two
things at once: buying ETH disposes of the BTC paid, selling ETH acquires BTC. Assets with a configured cash
rate (``tax_cash_rates``: USD, USDT, USDC... at 1 by default) are money: no lots are kept for them, and they
turn into the reporting currency at that rate. Other quote assets are valued at the latest recorded trade
price of that asset against a cash asset at or before the trade (the earliest after it if none before);
every number stays an exact ``Decimal``.

Fees (the commission and the broker's markup, as the ledger booked them):

- on a buy, a fee paid in the quote asset is **added to the cost** of the lot; a fee paid in the base asset
  **reduces the quantity acquired** (the lot's cost is still what was paid);
- on a sell, a fee paid in the quote asset is **deducted from the proceeds**; one paid in the base asset is
  disposed of with the rest (more units leave, the proceeds do not grow);
- a fee in a third asset is refused with ``TaxError`` (Braid's ledger never charges one).

Methods: ``fifo`` takes the oldest units first; ``hifo`` the units with the highest cost per unit first (ties:
oldest); ``average`` costs every disposal at the pool's average cost (total cost x units sold / units held)
and takes the units' acquisition dates in FIFO order. A disposal that takes units from several lots gives one
row per lot (each with its own acquisition date, basis and short/long term, as Form 8949 lists them); units
sold with no recorded acquisition (e.g. deposited) get an empty acquisition date and a zero basis, and say so.
Held more than one year is long term. Divisions (partial lots, average cost) keep 18 decimal places and give
the remainder to the last part, so parts always add up to the whole.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any, Literal

from sqlalchemy import Connection, select

from wallets.models import QUANTUM, canon, trades

Method = Literal["fifo", "hifo", "average"]
METHODS: tuple[Method, ...] = ("fifo", "hifo", "average")
ZERO = Decimal(0)
# Quote assets recognised when splitting a Binance-style symbol the configuration does not list.
_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI", "USD", "EUR", "GBP", "TRY", "BTC", "ETH", "BNB")
COLUMNS = (
    "asset",
    "quantity",
    "acquired",
    "disposed",
    "proceeds",
    "cost_basis",
    "gain_or_loss",
    "term",
    "fees",
    "fee_treatment",
    "method",
    "currency",
    "disposal_trade",
    "acquisition_trade",
)


class TaxError(Exception):
    """The report cannot be computed (unknown method, a price that was never recorded, a third-asset fee)."""


def _div(a: Decimal, b: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 80
        return (a / b).quantize(QUANTUM, ROUND_HALF_EVEN)


def _mul(a: Decimal, b: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 80
        return a * b


def _s(v: Decimal) -> str:
    return format(canon(v), "f")


def _when(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _long_term(acquired_ms: int, disposed_ms: int) -> bool:
    """Held more than one year: disposed after the anniversary of the acquisition date (UTC)."""
    a = datetime.fromtimestamp(acquired_ms / 1000, UTC).date()
    d = datetime.fromtimestamp(disposed_ms / 1000, UTC).date()
    try:
        anniversary = a.replace(year=a.year + 1)
    except ValueError:  # 29 February
        anniversary = date(a.year + 1, 3, 1)
    return d > anniversary


@dataclass(frozen=True, slots=True)
class Fill:
    """One trade of the account, as the ledger booked it (``markup`` is in the asset received)."""

    trade_id: int
    time: int  # ms
    base: str
    quote: str
    side: Literal["BUY", "SELL"]
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal = ZERO
    commission_asset: str = ""
    markup: Decimal = ZERO


@dataclass(slots=True)
class Lot:
    asset: str
    acquired: int
    qty: Decimal
    cost: Decimal  # reporting currency, fees included
    fee: Decimal  # the part of ``cost`` (or value of quantity) that was a fee
    note: str
    ref: str


@dataclass(frozen=True, slots=True)
class Disposal:
    """One CSV row: the units of one disposal that came from one lot."""

    asset: str
    quantity: Decimal
    acquired: int | None
    disposed: int
    proceeds: Decimal
    cost_basis: Decimal
    fees: Decimal
    fee_treatment: str
    method: str
    currency: str
    disposal_trade: str
    acquisition_trade: str

    @property
    def gain(self) -> Decimal:
        return self.proceeds - self.cost_basis

    @property
    def term(self) -> str:
        if self.acquired is None:
            return "unknown"
        return "long" if _long_term(self.acquired, self.disposed) else "short"

    def row(self) -> dict[str, str]:
        return {
            "asset": self.asset,
            "quantity": _s(self.quantity),
            "acquired": _when(self.acquired),
            "disposed": _when(self.disposed),
            "proceeds": _s(self.proceeds),
            "cost_basis": _s(self.cost_basis),
            "gain_or_loss": _s(self.gain),
            "term": self.term,
            "fees": _s(self.fees),
            "fee_treatment": self.fee_treatment,
            "method": self.method,
            "currency": self.currency,
            "disposal_trade": self.disposal_trade,
            "acquisition_trade": self.acquisition_trade,
        }


class PriceBook:
    """Values of assets in the reporting currency at a time: cash assets at their rate, others from trades."""

    def __init__(
        self, cash_rates: Mapping[str, Decimal], observations: Iterable[tuple[int, str, Decimal]] = ()
    ) -> None:
        self.cash = {k.upper(): Decimal(v) for k, v in cash_rates.items()}
        self._obs: dict[str, list[tuple[int, Decimal]]] = defaultdict(list)
        for t, asset, value in observations:
            self._obs[asset].append((t, value))
        for series in self._obs.values():
            series.sort(key=lambda x: x[0])

    def is_cash(self, asset: str) -> bool:
        return asset in self.cash

    def observe(self, t: int, asset: str, value: Decimal) -> None:
        """A unit of ``asset`` was worth ``value`` at ``t`` (observations must arrive in time order)."""
        self._obs[asset].append((t, value))

    def value(self, asset: str, t: int) -> Decimal:
        if asset in self.cash:
            return self.cash[asset]
        series = self._obs.get(asset)
        if not series:
            raise TaxError(f"no recorded price of {asset} against a cash asset; cannot value it")
        best = series[0][1]
        for ts, v in series:  # latest at or before t, else the earliest after
            if ts > t:
                break
            best = v
        return best


class LotBook:
    """The open lots of every asset and the disposal rows they produce."""

    def __init__(self, method: Method, currency: str) -> None:
        if method not in METHODS:
            raise TaxError(f"method must be one of {', '.join(METHODS)}, was {method!r}")
        self.method = method
        self.currency = currency
        self.lots: dict[str, list[Lot]] = defaultdict(list)

    def acquire(self, lot: Lot) -> None:
        if lot.qty > 0:
            self.lots[lot.asset].append(lot)

    def dispose(
        self, asset: str, t: int, qty: Decimal, proceeds: Decimal, fee: Decimal, note: str, ref: str
    ) -> list[Disposal]:
        pool = self.lots[asset]
        held = sum((lot.qty for lot in pool), ZERO)
        pool_cost = sum((lot.cost for lot in pool), ZERO)
        if self.method == "hifo":
            order = sorted(pool, key=lambda lot: (-_div(lot.cost, lot.qty), lot.acquired))
        else:  # fifo, and the acquisition dates of average cost
            order = list(pool)
        covered = min(qty, held)
        # average cost: the whole disposal's cost at the pool's average, spread over the lots it takes from
        avg_cost = (pool_cost if covered == held else _div(_mul(pool_cost, covered), held)) if held else ZERO
        parts: list[tuple[Lot | None, Decimal, Decimal, Decimal]] = []  # lot, units, cost, lot fee part
        left = qty
        for lot in order:
            if left <= 0:
                break
            take = min(left, lot.qty)
            whole = take == lot.qty
            cost = lot.cost if whole else _div(_mul(lot.cost, take), lot.qty)
            lot_fee = lot.fee if whole else _div(_mul(lot.fee, take), lot.qty)
            parts.append((lot, take, cost, lot_fee))
            lot.qty -= take
            lot.cost -= cost
            lot.fee -= lot_fee
            left -= take
        if self.method == "average" and parts:
            # re-spread the lots' own costs so the pool carries the average: every remaining unit has the same cost
            remaining = pool_cost - avg_cost
            rest = [lot for lot in pool if lot.qty > 0]
            rest_qty = sum((lot.qty for lot in rest), ZERO)
            spread = remaining
            for i, lot in enumerate(rest):
                lot.cost = spread if i == len(rest) - 1 else _div(_mul(remaining, lot.qty), rest_qty)
                spread -= lot.cost
            parts = _respread(parts, avg_cost)
        self.lots[asset] = [lot for lot in pool if lot.qty > 0]
        if left > 0:
            parts.append((None, left, ZERO, ZERO))
        rows = []
        proceeds_left, fee_left = proceeds, fee
        for i, (part_lot, units, cost, lot_fee) in enumerate(parts):
            last = i == len(parts) - 1
            p = proceeds_left if last else _div(_mul(proceeds, units), qty)
            f = fee_left if last else _div(_mul(fee, units), qty)
            proceeds_left -= p
            fee_left -= f
            notes = [n for n in ((part_lot.note if part_lot else "no recorded acquisition: basis 0"), note) if n]
            rows.append(
                Disposal(
                    asset,
                    units,
                    part_lot.acquired if part_lot else None,
                    t,
                    p,
                    cost,
                    f + lot_fee,
                    "; ".join(notes) or "no fees",
                    self.method,
                    self.currency,
                    ref,
                    part_lot.ref if part_lot else "",
                )
            )
        return rows


def _respread(
    parts: list[tuple[Lot | None, Decimal, Decimal, Decimal]], total: Decimal
) -> list[tuple[Lot | None, Decimal, Decimal, Decimal]]:
    units = sum((p[1] for p in parts), ZERO)
    out = []
    left = total
    for i, (lot, take, _cost, lot_fee) in enumerate(parts):
        cost = left if i == len(parts) - 1 else _div(_mul(total, take), units)
        left -= cost
        out.append((lot, take, cost, lot_fee))
    return out


@dataclass
class TaxReport:
    account_id: int
    year: int
    method: Method
    currency: str
    rows: list[Disposal] = field(default_factory=list)

    def summary(self) -> list[dict[str, str]]:
        """One line per asset: disposals, units, proceeds, basis, gain, fees, and the gain split by term."""
        acc: dict[str, dict[str, Any]] = {}
        for r in self.rows:
            a = acc.setdefault(
                r.asset,
                {
                    "asset": r.asset,
                    "disposals": set(),
                    "quantity": ZERO,
                    "proceeds": ZERO,
                    "cost_basis": ZERO,
                    "gain_or_loss": ZERO,
                    "fees": ZERO,
                    "short_term": ZERO,
                    "long_term": ZERO,
                    "unknown_term": ZERO,
                },
            )
            a["disposals"].add(r.disposal_trade)
            a["quantity"] += r.quantity
            a["proceeds"] += r.proceeds
            a["cost_basis"] += r.cost_basis
            a["gain_or_loss"] += r.gain
            a["fees"] += r.fees
            a[f"{r.term}_term"] += r.gain
        return [
            {k: (str(len(v)) if k == "disposals" else v if isinstance(v, str) else _s(v)) for k, v in a.items()}
            for a in sorted(acc.values(), key=lambda x: x["asset"])
        ]

    def to_csv(self) -> str:
        out = io.StringIO()
        w = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in self.rows:
            w.writerow(r.row())
        return out.getvalue()

    def as_dict(self) -> dict[str, Any]:
        return {
            "accountId": self.account_id,
            "year": self.year,
            "method": self.method,
            "currency": self.currency,
            "disposals": [r.row() for r in self.rows],
            "summary": self.summary(),
        }


def _year_bounds(year: int) -> tuple[int, int]:
    start = int(datetime(year, 1, 1, tzinfo=UTC).timestamp() * 1000)
    end = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp() * 1000)
    return start, end


def compute(
    fills: Sequence[Fill], *, account_id: int, year: int, method: Method, currency: str, prices: PriceBook
) -> TaxReport:
    """The report for ``year`` from the account's fills (any order; those after the year are ignored)."""
    start, end = _year_bounds(year)
    book = LotBook(method, currency)
    rows: list[Disposal] = []
    for f in sorted(fills, key=lambda x: (x.time, x.trade_id)):
        if f.time >= end:
            break
        rows.extend(_apply(book, prices, f))
    return TaxReport(account_id, year, method, currency, [r for r in rows if start <= r.disposed < end])


def _apply(book: LotBook, prices: PriceBook, f: Fill) -> list[Disposal]:
    base, quote, t, ref = f.base, f.quote, f.time, str(f.trade_id)
    fee_asset = f.commission_asset or (base if f.side == "BUY" else quote)
    if f.commission and fee_asset not in (base, quote):
        raise TaxError(f"trade {ref}: a fee in {fee_asset}, neither {base} nor {quote}, is not supported")
    unit_quote = prices.value(quote, t)
    gross = _mul(f.quote_qty, unit_quote)
    cur = book.currency
    rows: list[Disposal] = []
    if f.side == "BUY":
        fee_base = (f.commission if fee_asset == base else ZERO) + f.markup  # markup: in the asset received
        fee_quote = f.commission if fee_asset == quote else ZERO
        fee_quote_value = _mul(fee_quote, unit_quote)
        cost = gross + fee_quote_value
        fee_base_value = _div(_mul(gross, fee_base), f.qty) if f.qty else ZERO
        notes = []
        if fee_quote:
            notes.append(f"buy fee {_s(fee_quote)} {quote} ({_s(fee_quote_value)} {cur}) added to cost")
        if fee_base:
            notes.append(f"buy fee {_s(fee_base)} {base} reduced the quantity acquired")
        if not prices.is_cash(quote):
            rows += book.dispose(quote, t, f.quote_qty + fee_quote, cost, ZERO, f"paid for {base}", ref)
        if not prices.is_cash(base):
            book.acquire(Lot(base, t, f.qty - fee_base, cost, fee_quote_value + fee_base_value, "; ".join(notes), ref))
    else:
        fee_base = f.commission if fee_asset == base else ZERO
        fee_quote = (f.commission if fee_asset == quote else ZERO) + f.markup
        fee_quote_value = _mul(fee_quote, unit_quote)
        proceeds = gross - fee_quote_value
        fee_base_value = _div(_mul(gross, fee_base), f.qty) if f.qty else ZERO
        notes = []
        if fee_quote:
            notes.append(f"sell fee {_s(fee_quote)} {quote} ({_s(fee_quote_value)} {cur}) deducted from proceeds")
        if fee_base:
            notes.append(f"sell fee {_s(fee_base)} {base} disposed of without proceeds")
        if not prices.is_cash(base):
            rows += book.dispose(
                base, t, f.qty + fee_base, proceeds, fee_quote_value + fee_base_value, "; ".join(notes), ref
            )
        if not prices.is_cash(quote):
            book.acquire(Lot(quote, t, f.quote_qty - fee_quote, proceeds, ZERO, f"received for {base}", ref))
    return rows


class SymbolSplitter:
    """``BTCUSDT`` -> (``BTC``, ``USDT``): from the configured symbols first, else by a known quote suffix."""

    def __init__(self, symbols: Iterable[str] = (), quotes: Iterable[str] = ()) -> None:
        self.known = {s.replace("/", "").upper(): tuple(s.upper().split("/", 1)) for s in symbols if "/" in s}
        self.quotes = sorted({*_QUOTES, *(q.upper() for q in quotes)}, key=len, reverse=True)

    def __call__(self, symbol: str) -> tuple[str, str]:
        s = symbol.replace("/", "").upper()
        if s in self.known:
            base, quote = self.known[s]
            return base, quote
        if "/" in symbol:
            base, _, quote = symbol.upper().partition("/")
            return base, quote
        for q in self.quotes:
            if s.endswith(q) and len(s) > len(q):
                return s[: -len(q)], q
        raise TaxError(f"cannot tell the base and quote assets of symbol {symbol!r}")


def load_fills(conn: Connection, account_id: int, until_ms: int, split: SymbolSplitter) -> list[Fill]:
    """The account's trades before ``until_ms`` (oldest first), from the ledger's trade table."""
    t = trades
    q = select(t).where(t.c.account_id == account_id, t.c.time < until_ms).order_by(t.c.time, t.c.trade_id)
    out = []
    for r in conn.execute(q):
        m = r._mapping
        base, quote = split(m["symbol"])
        out.append(
            Fill(
                m["trade_id"],
                m["time"],
                base,
                quote,
                "BUY" if m["is_buyer"] else "SELL",
                m["qty"],
                m["quote_qty"],
                m["commission"],
                m["commission_asset"],
                m["markup"],
            )
        )
    return out


def load_prices(
    conn: Connection, fills: Sequence[Fill], until_ms: int, split: SymbolSplitter, cash_rates: Mapping[str, Decimal]
) -> PriceBook:
    """Prices of the crypto quote assets the fills use (BTC in ETH/BTC), from every recorded trade of that asset
    against a cash asset (any account's: a market price, not a position)."""
    book = PriceBook(cash_rates)
    needed = {f.quote for f in fills if not book.is_cash(f.quote)}
    if not needed:
        return book
    symbols = [a + c for a in needed for c in book.cash]
    t = trades
    q = select(t.c.time, t.c.symbol, t.c.price).where(t.c.symbol.in_(symbols), t.c.time < until_ms).order_by(t.c.time)
    for time_ms, symbol, price in conn.execute(q):
        base, quote = split(symbol)
        if base in needed and book.is_cash(quote):
            book.observe(time_ms, base, _mul(price, book.cash[quote]))
    return book


def report_from_db(
    conn: Connection,
    account_id: int,
    year: int,
    method: Method,
    *,
    currency: str,
    cash_rates: Mapping[str, Decimal],
    symbols: Iterable[str] = (),
) -> TaxReport:
    """Load the account's trades and the prices they need, and compute the report."""
    _, end = _year_bounds(year)
    split = SymbolSplitter(symbols, cash_rates)
    fills = load_fills(conn, account_id, end, split)
    prices = load_prices(conn, fills, end, split, cash_rates)
    return compute(fills, account_id=account_id, year=year, method=method, currency=currency, prices=prices)
