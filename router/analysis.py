"""Routing quality on recorded markets: an order flow through the real router, with paper execution, on a replay.

The replay drives the venue feeds into a consolidated book exactly as live; each parent order of the flow is
routed at its timestamp by the same ``SmartOrderRouter`` the service runs, with paper venues filling against the
mirrored books and the router's clock set to replay time. The result holds one execution report per parent
and the consolidated depth at the moments asked for; it renders as DataFrames, JSON, CSV, PNG and HTML
(``router.analysis_render``). Nothing here reads the wall clock, so the same inputs give the same report.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from config.instruments import Instrument
from config.policy import PolicySet, RoutingPolicy
from config.settings import Settings, get_settings
from connectors.numbers import plain
from connectors.replay import Replayer
from domain import OrderSide, OrderType, TimeInForce
from internal_book import MatchingEngine
from router.consolidated import ConsolidatedMarket
from router.paper import PaperVenue
from router.report import ExecutionReport, ParentOrder
from router.sor import SmartOrderRouter

ZERO = Decimal(0)
FLOW_COLUMNS = ("time_ns", "parent_id", "symbol", "side", "qty", "type", "price", "tif")


@dataclass(frozen=True, slots=True)
class FlowOrder:
    ts_ns: int
    parent: ParentOrder


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    """The consolidated book at one moment: per side, (price, qty, {venue: qty}) best first."""

    ts_ns: int
    symbol: str
    bids: tuple[tuple[Decimal, Decimal, tuple[tuple[str, Decimal], ...]], ...]
    asks: tuple[tuple[Decimal, Decimal, tuple[tuple[str, Decimal], ...]], ...]


@dataclass
class Analysis:
    runs: list[tuple[FlowOrder, ExecutionReport]] = field(default_factory=list)
    depth: list[DepthSnapshot] = field(default_factory=list)
    frames: int = 0

    # ----- tables -----
    def parent_rows(self) -> list[dict[str, Any]]:
        """One row per parent: what was asked, what happened, and how it compares."""
        venues = sorted({s for _, r in self.runs for s in r.by_source})
        rows = []
        for fo, r in self.runs:
            row: dict[str, Any] = {
                "time_ns": fo.ts_ns,
                "parent_id": r.parent_id,
                "symbol": r.symbol,
                "side": r.side,
                "type": fo.parent.order_type,
                "tif": fo.parent.tif,
                "limit": fo.parent.price,
                "qty": r.requested,
                "filled": r.filled,
                "status": r.status,
                "arrival_mid": r.arrival_mid,
                "avg_price": r.avg_price,
                "effective_price": r.effective_price,
                "fees": r.fees,
                "slippage_bps": r.slippage_bps,
                "best_single_venue": r.best_single_venue,
                "best_single_venue_price": r.best_single_venue_price,
                "improvement_bps": r.improvement_bps,
                "rounds": r.rounds,
                "reject": r.reject_msg,
            }
            for v in venues:
                row[f"qty_{v}"] = r.by_source.get(v, (ZERO, ZERO, ZERO))[0]
            rows.append(row)
        return rows

    def fill_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "parent_id": r.parent_id,
                "time_ns": fo.ts_ns,
                "source": f.source,
                "price": f.price,
                "qty": f.qty,
                "fee": f.fee,
                "fee_asset": f.fee_asset,
                "ref": f.ref,
            }
            for fo, r in self.runs
            for f in r.fills
        ]

    def summary(self) -> dict[str, Any]:
        """Counts, fill rate, the distribution of improvement and slippage, and each source's share of fills."""
        reports = [r for _, r in self.runs]
        filled = [r for r in reports if r.filled > 0]
        improvements = sorted(r.improvement_bps for r in filled if r.improvement_bps is not None)
        slippages = sorted(r.slippage_bps for r in filled if r.slippage_bps is not None)
        total = sum((r.filled for r in reports), ZERO)
        share: dict[str, Decimal] = {}
        for r in reports:
            for source, (qty, _, _) in r.by_source.items():
                share[source] = share.get(source, ZERO) + qty
        return {
            "parents": len(reports),
            "filled_parents": len(filled),
            "requested_qty": sum((r.requested for r in reports), ZERO),
            "filled_qty": total,
            "statuses": _count(r.status for r in reports),
            "improvement_bps": _quantiles(improvements),
            "slippage_bps": _quantiles(slippages),
            "venue_share": {k: (v / total if total else ZERO) for k, v in sorted(share.items())},
            "frames": self.frames,
        }

    def frames_pandas(self) -> dict[str, Any]:
        """The same tables as pandas DataFrames (for notebooks): parents, fills, summary."""
        import pandas as pd

        summary = self.summary()
        flat = {k: v for k, v in summary.items() if not isinstance(v, dict)}
        for name in ("improvement_bps", "slippage_bps", "venue_share"):
            flat.update({f"{name}.{k}": v for k, v in summary[name].items()})
        return {
            "parents": pd.DataFrame(self.parent_rows()),
            "fills": pd.DataFrame(self.fill_rows()),
            "summary": pd.DataFrame([flat]),
        }


def _count(items: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return dict(sorted(out.items()))


def _quantiles(values: Sequence[Decimal]) -> dict[str, Decimal | None]:
    """Nearest-rank quantiles: exact values from the data, no interpolation."""

    def q(p: int) -> Decimal | None:
        if not values:
            return None
        rank = max(1, -(-p * len(values) // 100))
        return values[rank - 1]

    return {
        "min": values[0] if values else None,
        "p5": q(5),
        "p25": q(25),
        "median": q(50),
        "p75": q(75),
        "p95": q(95),
        "max": values[-1] if values else None,
    }


# ----- flows -----
def load_flow(path: str | Path) -> list[FlowOrder]:
    """A CSV of parent orders with the columns ``FLOW_COLUMNS`` (price empty for MARKET)."""
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in FLOW_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}; expected {list(FLOW_COLUMNS)}")
        for n, row in enumerate(reader, 2):
            try:
                # the file's text as the parent order's types; ParentOrder itself refuses a bad side, qty or price
                side = OrderSide(row["side"].upper())
                order_type = OrderType.MARKET if row["type"].upper() == "MARKET" else OrderType.LIMIT
                if row["type"].upper() not in ("LIMIT", "MARKET"):
                    raise ValueError(f"type was {row['type']!r}")
                tif = TimeInForce(row["tif"].upper() or "GTC")
                price = Decimal(row["price"]) if row["price"] else None
                parent = ParentOrder(row["parent_id"], row["symbol"], side, Decimal(row["qty"]), order_type, price, tif)
                out.append(FlowOrder(int(row["time_ns"]), parent))
            except (ValueError, ArithmeticError) as exc:
                raise ValueError(f"{path}:{n}: {exc}") from None
    return sorted(out, key=lambda f: (f.ts_ns, f.parent.parent_id))


def write_flow(flow: Iterable[FlowOrder], path: str | Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(FLOW_COLUMNS)
        for f in flow:
            p = f.parent
            w.writerow(
                [
                    f.ts_ns,
                    p.parent_id,
                    p.symbol,
                    p.side,
                    plain(p.qty),
                    p.order_type,
                    "" if p.price is None else plain(p.price),
                    p.tif,
                ]
            )


def generate_flow(
    symbols: Sequence[str],
    start_ns: int,
    end_ns: int,
    count: int,
    *,
    seed: int = 1,
    sizes: dict[str, tuple[Decimal, Decimal]] | None = None,
    step: Decimal = Decimal("0.001"),
) -> list[FlowOrder]:
    """A seeded flow of IOC market and marketable-limit parents spread evenly over the replay."""
    rng = random.Random(seed)  # nosec B311 # seeded pseudo-random market simulation, not security
    sizes = sizes or {}
    out = []
    for i in range(count):
        ts = start_ns + (end_ns - start_ns) * (i + 1) // (count + 1)
        symbol = symbols[i % len(symbols)]
        lo, hi = sizes.get(symbol, (Decimal("0.01"), Decimal("2")))
        steps = int((hi - lo) / step)
        qty = lo + step * rng.randint(0, steps)
        side = OrderSide.BUY if rng.random() < 0.5 else OrderSide.SELL
        out.append(
            FlowOrder(ts, ParentOrder(f"flow-{i + 1:05d}", symbol, side, qty, OrderType.MARKET, None, TimeInForce.IOC))
        )
    return out


# ----- running -----
async def analyse(
    files: Iterable[str | Path],
    flow: Sequence[FlowOrder],
    *,
    settings: Settings | None = None,
    policies: PolicySet | None = None,
    depth_at: Sequence[int] = (),
    depth_levels: int = 20,
    internal_rules: dict[str, Instrument] | None = None,
    paper_fees: dict[str, Decimal] | None = None,
    skip_bad: bool = False,
) -> Analysis:
    """Replay ``files`` and route ``flow`` through the router with paper execution at replay time.

    ``paper_fees`` sets the fee each paper venue charges (default: the venue's taker fee setting).
    """
    settings = settings or get_settings()
    market = ConsolidatedMarket()
    replayer = Replayer(files, settings=settings, market=market, skip_bad=skip_bad)
    instruments: dict[tuple[str, str], Instrument] = {}
    venues: dict[str, PaperVenue] = {}
    for feed in replayer.feeds:
        for inst in getattr(feed, "instruments", {}).values():
            instruments[(feed.venue, inst.symbol)] = inst
        books = feed.books
        fee = (paper_fees or {}).get(feed.venue, settings.venue(feed.venue).taker_fee)
        venues[feed.venue] = PaperVenue(feed.venue, books.get, taker_fee=fee)
    internal = internal_rules or _internal_rules(instruments)
    for symbol, inst in internal.items():
        instruments[("internal", symbol)] = inst
    router = SmartOrderRouter(
        market,
        venues,
        instruments,
        engine=MatchingEngine(internal.values()),
        policies=policies or PolicySet(RoutingPolicy(), {}),
        settings=settings,
        clock=lambda: replayer.now_ns,
    )
    result = Analysis()
    moments = sorted(depth_at)
    for fo in sorted(flow, key=lambda f: (f.ts_ns, f.parent.parent_id)):
        while moments and moments[0] <= fo.ts_ns:
            result.depth += _depth(replayer, market, moments.pop(0), depth_levels)
        replayer.run_until(fo.ts_ns)
        result.runs.append((fo, await router.execute(fo.parent)))
    for ts in moments:
        result.depth += _depth(replayer, market, ts, depth_levels)
    replayer.run()
    result.frames = replayer.result.frames
    return result


def _depth(replayer: Replayer, market: ConsolidatedMarket, ts_ns: int, levels: int) -> list[DepthSnapshot]:
    replayer.run_until(ts_ns)
    out = []
    for symbol in sorted(market):
        book = market.book(symbol)
        out.append(
            DepthSnapshot(
                ts_ns,
                symbol,
                tuple((lv.price, lv.qty, lv.venues) for lv in book.bids(levels, now_ns=ts_ns)),
                tuple((lv.price, lv.qty, lv.venues) for lv in book.asks(levels, now_ns=ts_ns)),
            )
        )
    return out


def _internal_rules(instruments: dict[tuple[str, str], Instrument]) -> dict[str, Instrument]:
    """The internal book's rules per symbol: the finest tick and lot any venue uses, no minimum notional."""
    out: dict[str, Instrument] = {}
    for (_, symbol), inst in sorted(instruments.items()):
        if not inst.tick_size or not inst.step_size:
            continue
        prev = out.get(symbol)
        tick = inst.tick_size if prev is None else min(prev.tick_size, inst.tick_size)
        step = inst.step_size if prev is None else min(prev.step_size, inst.step_size)
        out[symbol] = Instrument(symbol, inst.base, inst.quote, "internal", symbol, tick, step)
    return out
