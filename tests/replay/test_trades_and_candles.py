"""Venue trades through replay into the API's market data: candles built by Braid from a replay equal candles
built independently, straight from the recorded trade frames."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from decimal import Decimal

import orjson

from connectors.capture import LineKind, read_capture
from connectors.recording import capture_files
from connectors.replay import Replayer
from gateway.api.market_candles import bucket_of, parse_time_zone, parse_window
from gateway.api.marketdata import MarketPublisher
from router.consolidated import ConsolidatedMarket

EIGHT = Decimal("1e-8")
SYMBOLS = {"BTC/USDT": "BTCUSDT", "ETH/USDT": "ETHUSDT"}


def _recorded_trades(folder) -> dict[str, list[tuple[int, Decimal, Decimal, bool]]]:
    """(time ms, price, qty, buyer is maker) per Binance symbol, read from the raw frames without the feeds."""
    out: dict[str, list[tuple[int, Decimal, Decimal, bool]]] = defaultdict(list)
    for path in capture_files(folder):
        for line in read_capture(path):
            if line.kind is not LineKind.RECEIVED or not isinstance(line.payload, str):
                continue
            msg = orjson.loads(line.payload)
            if line.venue == "binance" and msg.get("data", {}).get("e") == "trade":
                d = msg["data"]
                out[d["s"]].append((d["T"], Decimal(d["p"]), Decimal(d["q"]), d["m"]))
            elif line.venue == "kraken" and isinstance(msg, dict) and msg.get("channel") == "trade":
                exact = json.loads(line.payload, parse_float=Decimal)  # JSON numbers as their exact text
                for item in exact["data"]:
                    dt = datetime.fromisoformat(item["timestamp"].replace("Z", "+00:00"))
                    t = int(dt.replace(microsecond=0).timestamp()) * 1000 + dt.microsecond // 1000
                    price, qty = Decimal(item["price"]), Decimal(item["qty"])
                    out[SYMBOLS[item["symbol"]]].append((t, price, qty, item["side"] == "sell"))
    return out


def _independent(trades, interval: str, tz: int) -> list[list[object]]:
    buckets: dict[int, list] = defaultdict(list)
    for n, (t, p, q, m) in enumerate(trades):
        buckets[bucket_of(interval, t, tz)[0]].append((t, n, p, q, m))
    rows = []
    for open_t in sorted(buckets):
        ts = sorted(buckets[open_t])
        buy = [x for x in ts if not x[4]]
        rows.append(
            [
                open_t,
                ts[0][2],
                max(x[2] for x in ts),
                min(x[2] for x in ts),
                ts[-1][2],
                sum(x[3] for x in ts),
                bucket_of(interval, open_t, tz)[1],
                sum(x[2] * x[3] for x in ts),
                len(ts),
                sum((x[3] for x in buy), Decimal(0)),
                sum((x[2] * x[3] for x in buy), Decimal(0)),
            ]
        )
    return rows


def test_candles_from_a_replay_match_candles_built_from_the_recorded_trades(generated) -> None:
    market = ConsolidatedMarket()
    pub = MarketPublisher({b: market.book(c) for c, b in SYMBOLS.items()})
    r = Replayer([generated], market=market, on_trade=pub.on_venue_trade)
    r.run()
    recorded = _recorded_trades(generated)
    for sym in SYMBOLS.values():
        kept = list(pub.trades[sym])
        assert {t.source for t in kept} == {"binance", "kraken"}  # the generated HTX serves mbp on /feed only
        assert len(kept) == len(recorded[sym]) > 20
        assert [t.id for t in kept] == list(range(1, len(kept) + 1))
        for interval, tz in (("1s", 0), ("1m", 0), ("5m", parse_time_zone("+05:45")), ("1h", 0), ("1M", 0)):
            assert tz is not None
            ours = pub.klines(sym, interval, None, None, 1000, tz)
            theirs = _independent(recorded[sym], interval, tz)
            assert len(ours) == len(theirs) > 0, interval
            for a, b in zip(ours, theirs, strict=True):
                assert a[0] == b[0] and a[6] == b[6] and a[8] == b[8]
                # the wire prints 8 decimals (quote volumes have more): compare at Binance's precision
                want = [Decimal(x).quantize(EIGHT) for x in b[1:6] + b[7:8] + b[9:11]]
                assert [Decimal(str(x)) for x in a[1:6] + a[7:8] + a[9:11]] == want, (interval, a[0])


def test_time_zones_and_windows_are_read_as_binance_documents_them() -> None:
    assert parse_time_zone("0") == 0 and parse_time_zone("8") == 8 * 3_600_000
    assert parse_time_zone("-1:00") == -3_600_000 and parse_time_zone("+05:45") == (5 * 60 + 45) * 60_000
    assert parse_time_zone("15") is None and parse_time_zone("-13:00") is None and parse_time_zone("5:10") is None
    assert (
        parse_window("1m") == 60_000 and parse_window("23h") == 23 * 3_600_000 and parse_window("7d") == 7 * 86_400_000
    )
    assert parse_window("60m") is None and parse_window("8d") is None and parse_window("x") is None
    # 2026-01-01 (UTC) is a Thursday: its week opened Monday 2025-12-29; at UTC+8 its day opened at 16:00 UTC before
    t = 1_767_225_600_000
    assert bucket_of("1w", t) == (1_766_966_400_000, 1_766_966_400_000 + 7 * 86_400_000 - 1)
    assert bucket_of("1d", t, 8 * 3_600_000)[0] == t - 8 * 3_600_000
    assert bucket_of("1M", t + 5 * 86_400_000) == (t, 1_769_904_000_000 - 1)  # January 2026
