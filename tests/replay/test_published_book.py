"""Property: over a replayed market with dislocations, the published book is never crossed or locked, and the
depth stream continues ``lastUpdateId`` exactly (a client applying the diffs keeps the REST snapshot)."""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.replay import Replayer
from gateway.api.marketdata import DepthFeed
from router.consolidated import ConsolidatedMarket

MS = 1_000_000


def _apply(side: dict[Decimal, Decimal], rows: list[list[str]]) -> None:
    for p, q in rows:
        if Decimal(q) == 0:
            side.pop(Decimal(p), None)
        else:
            side[Decimal(p)] = Decimal(q)


@st.composite
def _own_orders(draw: st.DrawFn) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    # Braid's own resting orders, some priced through the venues' touch (they cross the venue book).
    offsets = st.integers(min_value=-300, max_value=300)
    qty = st.integers(min_value=1, max_value=50_000).map(lambda u: Decimal(u) / 10_000)
    bids = draw(st.dictionaries(offsets, qty, max_size=3))
    asks = draw(st.dictionaries(offsets, qty, max_size=3))
    return {Decimal(o) / 100: q for o, q in bids.items()}, {Decimal(o) / 100: q for o, q in asks.items()}


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    episode=st.integers(min_value=0, max_value=50),
    lead_ms=st.integers(min_value=0, max_value=1500),
    steps=st.lists(st.integers(min_value=1, max_value=400), min_size=10, max_size=40),
    mode=st.sampled_from(["netted", "fee_inclusive"]),
    levels=st.sampled_from([5, 20, 200]),
    own=_own_orders(),
)
def test_published_book_is_never_crossed_and_the_diffs_continue_the_snapshot(
    generated, episode, lead_ms, steps, mode, levels, own
) -> None:
    meta = json.loads((generated / "market.json").read_text())
    dis = meta["dislocations"][episode % len(meta["dislocations"])]
    market = ConsolidatedMarket()
    r = Replayer([generated], market=market)
    symbol = dis["symbol"]
    book = market.book(symbol)
    r.run_until(dis["start_ns"] - lead_ms * MS)
    mid = book.mid(r.now_ns) or Decimal(0)
    own_bids = {mid + o: q for o, q in own[0].items()}
    own_asks = {mid + o: q for o, q in own[1].items()}
    feed = DepthFeed("SYM", book, levels, mode=mode, internal=lambda s: (0, own_bids, own_asks))
    events: list[dict[str, object]] = []
    tickers: list[dict[str, object]] = []
    feed.subscribers.add(events.append)
    feed.top_subscribers.add(tickers.append)
    feed.refresh(r.now_ns)
    events.clear()  # the client fetches its snapshot after the stream has started
    snap = feed.snapshot(levels)
    client_id = snap["lastUpdateId"]
    bids = {Decimal(p): Decimal(q) for p, q in snap["bids"]}  # type: ignore[union-attr]
    asks = {Decimal(p): Decimal(q) for p, q in snap["asks"]}  # type: ignore[union-attr]
    for step in steps:
        r.run_until(r.now_ns + step * MS)
        feed.refresh(r.now_ns)
        for e in events:
            assert e["U"] == client_id + 1 == e["u"]  # exactly the next id: no gap, no repeat
            client_id = e["u"]
            _apply(bids, e["b"])  # type: ignore[arg-type]
            _apply(asks, e["a"])  # type: ignore[arg-type]
        events.clear()
        snap = feed.snapshot(levels)
        assert snap["lastUpdateId"] == client_id
        assert sorted(bids.items(), reverse=True) == [(Decimal(p), Decimal(q)) for p, q in snap["bids"]]  # type: ignore[union-attr]
        assert sorted(asks.items()) == [(Decimal(p), Decimal(q)) for p, q in snap["asks"]]  # type: ignore[union-attr]
        if bids and asks:
            assert max(bids) < min(asks), f"published book crossed or locked at {r.now_ns}"
        for t in tickers:
            if Decimal(t["b"]) and Decimal(t["a"]):  # type: ignore[arg-type]
                assert Decimal(t["b"]) < Decimal(t["a"])  # type: ignore[arg-type]
        tickers.clear()


def test_the_generated_dislocations_do_cross_the_raw_consolidated_book(generated) -> None:
    """The property above is not vacuous: the raw merged book of this market is crossed at times."""
    market = ConsolidatedMarket()
    r = Replayer([generated], market=market)
    crossed = 0

    def look(rep: Replayer) -> None:
        nonlocal crossed
        for sym in ("BTC/USDT", "ETH/USDT"):
            bid, ask = market.book(sym).best_prices(rep.now_ns)
            crossed += bid is not None and ask is not None and bid >= ask

    r.every(100 * MS, look)
    r.run()
    assert crossed > 0
