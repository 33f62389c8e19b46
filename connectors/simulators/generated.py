"""A generated multi-venue market, written as captures in each venue's real wire format.

One latent price per symbol (a seeded random walk with occasional jumps, BTC and ETH correlated) drives every
venue. Each venue has its own tick size, lot, spread, depth profile, book update rate, network latency, and a
lag behind the latent price; now and then one venue dislocates for a few seconds (it lags, frozen at an old
price, or jumps away from the others), which is where routing across venues pays.

The generator is a discrete-event simulation of the venues' servers talking to Braid's real feed handlers: it
opens one connection per venue, hands each delivered frame to the feed, and answers what the feed asks (Binance
REST snapshots, the Kraken subscribe with its snapshot, the HTX ``sub`` and ``req``), so the files hold the
frames a live recorder would have written (Binance combined ``@depth@100ms`` + REST snapshots, Kraken WS v2
``book`` with CRC32 at the pair precision, or v1 with ``XBT/USDT``, HTX gzip ``mbp.150`` + REQ/REP + pings) and
replay through exactly the live parse and sync path. Same seed and options, same bytes.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from config.instruments import Instrument
from config.settings import BinanceSettings, HtxSettings, KrakenSettings, VenueSettings
from connectors.base import Action, FeedHandler, FetchSnapshot, Send
from connectors.kraken.checksum import checksum_of_strings
from connectors.numbers import format_units
from connectors.recording import CaptureWriter
from connectors.simulators.htx import dumps_exact, encode_frame
from connectors.venues import venue_spec

MS = 1_000_000
S = 1_000_000_000
T0_NS = 1_767_225_600 * S  # 2026-01-01T00:00:00Z: generated time starts here


@dataclass(frozen=True)
class SymbolSpec:
    symbol: str
    start: float  # starting latent price
    vol_bps_s: float  # latent volatility, basis points per sqrt(second)


@dataclass(frozen=True)
class VenueProfile:
    venue: str
    price_dp: dict[str, int]  # tick = 10**-dp
    qty_dp: dict[str, int]  # lot = 10**-dp
    base_qty: dict[str, float]  # typical size of a level near the top, base units
    spread_ticks: tuple[int, int]  # quoted spread range, ticks
    gap_bps: float  # mean distance between levels, basis points of the price
    levels: int  # levels a side in the venue's own book
    update_ms: float  # mean interval between book changes
    changes: tuple[int, int]  # levels touched by one book change
    latency_ms: float  # one-way network latency to us
    jitter_ms: float
    lag_ms: float  # how far behind the latent price the venue's quotes are


SYMBOLS = (SymbolSpec("BTC/USDT", 43_000.0, 0.8), SymbolSpec("ETH/USDT", 2_300.0, 1.0))
PROFILES = {
    "binance": VenueProfile("binance", {"BTC/USDT": 2, "ETH/USDT": 2}, {"BTC/USDT": 5, "ETH/USDT": 4},
                            {"BTC/USDT": 0.6, "ETH/USDT": 8.0}, (1, 2), 0.06, 200, 40, (1, 3), 12, 3, 0),
    "kraken": VenueProfile("kraken", {"BTC/USDT": 1, "ETH/USDT": 2}, {"BTC/USDT": 8, "ETH/USDT": 8},
                           {"BTC/USDT": 0.25, "ETH/USDT": 3.0}, (1, 4), 0.1, 150, 90, (1, 3), 45, 8, 250),
    "htx": VenueProfile("htx", {"BTC/USDT": 2, "ETH/USDT": 2}, {"BTC/USDT": 6, "ETH/USDT": 4},
                        {"BTC/USDT": 0.4, "ETH/USDT": 5.0}, (2, 6), 0.12, 170, 60, (1, 3), 30, 6, 120),
}  # fmt: skip
SETTINGS: dict[str, VenueSettings] = {"binance": BinanceSettings(), "kraken": KrakenSettings(), "htx": HtxSettings()}
HTX_PING_NS = 5 * S
# Public trades a second per symbol, on the venues whose feed subscribes to them on the book's connection
# (Binance ``@trade`` on the combined stream, Kraken v2 ``trade``; HTX serves ``trade.detail`` on /ws, not /feed).
TRADE_RATE = {"binance": 1.5, "kraken": 0.6}
HTX_LEVELS = 150
KRAKEN_DEPTH = 100


@dataclass(frozen=True)
class Dislocation:
    venue: str
    symbol: str
    kind: str  # "lag": quotes frozen at the start price; "jump": quotes shifted by bps
    start_ns: int
    end_ns: int
    bps: float = 0.0


@dataclass
class GeneratedMarket:
    seed: int
    seconds: float
    folder: Path
    dislocations: list[Dislocation] = field(default_factory=list)
    frames: dict[str, int] = field(default_factory=dict)


# ----- the latent price -----
class Latent:
    """Per symbol, the latent price on a 10 ms grid: correlated log random walk with rare jumps."""

    STEP_NS = 10 * MS

    def __init__(self, rng: random.Random, seconds: float, symbols: tuple[SymbolSpec, ...]) -> None:
        n = int(seconds * S / self.STEP_NS) + 2
        dt = self.STEP_NS / S
        self.paths: dict[str, list[float]] = {s.symbol: [s.start] for s in symbols}
        for _ in range(n):
            common = rng.gauss(0, 1)
            jump = rng.gauss(0, 12e-4) if rng.random() < dt / 45 else 0.0  # about one jump in 45 s
            for s in symbols:
                z = 0.8 * common + 0.6 * rng.gauss(0, 1)
                path = self.paths[s.symbol]
                path.append(path[-1] * math.exp(s.vol_bps_s * 1e-4 * math.sqrt(dt) * z + jump))

    def price(self, symbol: str, t_ns: int) -> float:
        path = self.paths[symbol]
        return path[min(max(0, (t_ns - T0_NS) // self.STEP_NS), len(path) - 1)]


# ----- one venue's book for one symbol (integer ticks and lots) -----
class _Book:
    def __init__(self, prof: VenueProfile, symbol: str, rng: random.Random, fair: float, activity: float = 1.0) -> None:
        self.prof, self.symbol, self.rng = prof, symbol, rng
        self.changes = (max(1, round(prof.changes[0] * activity)), max(1, round(prof.changes[1] * activity)))
        self.tick = 10.0 ** -prof.price_dp[symbol]
        self.lot_per_unit = 10 ** prof.qty_dp[symbol]
        self.gap_ticks = max(1.0, prof.gap_bps * 1e-4 * fair / self.tick)
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        bid, ask = self._targets(fair)
        p = bid
        for _ in range(prof.levels):
            self.bids[p] = self._qty(bid - p)
            p -= self._gap()
        p = ask
        for _ in range(prof.levels):
            self.asks[p] = self._qty(p - ask)
            p += self._gap()

    def _gap(self) -> int:
        return 1 + int(self.rng.expovariate(1 / max(self.gap_ticks - 1, 0.01)))

    def _qty(self, distance_ticks: int) -> int:
        base = (
            self.prof.base_qty[self.symbol]
            * (0.15 + self.rng.lognormvariate(0, 0.8))
            * (1 + distance_ticks / self.gap_ticks / 40)
        )
        return max(1, int(base * self.lot_per_unit))

    def _targets(self, fair: float) -> tuple[int, int]:
        spread = self.rng.randint(*self.prof.spread_ticks)
        mid = fair / self.tick
        bid = math.floor(mid - spread / 2)
        return bid, bid + spread

    def update(self, fair: float) -> list[tuple[bool, int, int]]:
        """Move the book toward ``fair`` and touch a few levels; returns (is_bid, price, qty) changes (0 = gone)."""
        rng, out = self.rng, []
        bid, ask = self._targets(fair)
        for p in [p for p in self.bids if p > bid]:
            del self.bids[p]
            out.append((True, p, 0))
        for p in [p for p in self.asks if p < ask]:
            del self.asks[p]
            out.append((False, p, 0))
        for is_bid, side, top in ((True, self.bids, bid), (False, self.asks, ask)):
            best = (max(side) if is_bid else min(side)) if side else None
            # Quotes follow the price: fill from the new top down to the old best.
            p, added = top, 0
            while (best is None or (p > best if is_bid else p < best)) and added < 40:
                added += 1
                if p not in side:
                    side[p] = self._qty(0)
                    out.append((is_bid, p, side[p]))
                p = p - self._gap() if is_bid else p + self._gap()
                if best is None:
                    break
        for _ in range(rng.randint(*self.changes)):
            is_bid = rng.random() < 0.5
            side = self.bids if is_bid else self.asks
            best = max(side) if is_bid else min(side)
            d = int(rng.expovariate(1 / (self.gap_ticks * 4)))
            p = best - d if is_bid else best + d
            if is_bid and p >= ask or not is_bid and p <= bid:
                continue
            if p in side and rng.random() < 0.3 and len(side) > self.prof.levels // 2 and p != best:
                del side[p]
                out.append((is_bid, p, 0))
            else:
                side[p] = self._qty(d)
                out.append((is_bid, p, side[p]))
        for is_bid, side in ((True, self.bids), (False, self.asks)):
            ordered = sorted(side, reverse=is_bid)
            for p in ordered[self.prof.levels :]:  # too deep: the venue drops it
                del side[p]
                out.append((is_bid, p, 0))
            if len(side) < self.prof.levels:  # thin: add at the far end
                p = ordered[min(len(ordered), self.prof.levels) - 1]
                while len(side) < self.prof.levels:
                    p = p - self._gap() if is_bid else p + self._gap()
                    if p <= 0:
                        break
                    side[p] = self._qty(abs(p - ordered[0]))
                    out.append((is_bid, p, side[p]))
        return out

    def top(self, n: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        bids = sorted(self.bids.items(), reverse=True)[:n]
        asks = sorted(self.asks.items())[:n]
        return bids, asks


def _view_diff(old: dict[int, int], new: list[tuple[int, int]], truth: dict[int, int]) -> list[tuple[int, int]]:
    # Kraken / HTX views: a level that left the book is sent as 0; one that only fell below the view is not
    # (the client truncates); a level that entered or changed is sent.
    out = [(p, 0) for p in old if p not in truth]
    out += [(p, q) for p, q in new if old.get(p) != q]
    return out


# ----- the simulation -----
class _Sim:
    def __init__(
        self,
        seed: int,
        seconds: float,
        writer: CaptureWriter,
        kraken_version: int,
        venues: tuple[str, ...],
        activity: float = 1.0,
    ) -> None:
        # Separate streams, so that the market never depends on when the client asked for what.
        self.seed = seed
        self.rng = random.Random(seed)  # nosec B311 # seeded pseudo-random market simulation, not security
        self.net_rng = {v: random.Random(f"{seed}:net:{v}") for v in venues}  # nosec B311 # seeded pseudo-random market simulation, not security
        self.activity = activity
        self.seconds = seconds
        self.end_ns = T0_NS + int(seconds * S)
        self.writer = writer
        self.kraken_version = kraken_version
        self.venues = venues
        self.latent = Latent(random.Random(self.rng.random()), seconds, SYMBOLS)  # nosec B311 # seeded pseudo-random market simulation, not security
        self.heap: list[tuple[int, int, Callable[..., None], tuple[Any, ...]]] = []
        self.seq = itertools.count()
        self.dislocations = self._dislocations()
        self.books: dict[tuple[str, str], _Book] = {}
        self.feeds: dict[str, FeedHandler] = {}
        self.last_delivery: dict[str, int] = {}
        self.frames: dict[str, int] = {}
        # Per venue server state.
        self.bn_pending: dict[str, dict[tuple[bool, int], int]] = {}
        self.bn_ids: dict[str, int] = {}
        self.bn_sent_u: dict[str, int] = {}
        self.kr_depth = KRAKEN_DEPTH
        self.views: dict[tuple[str, str], tuple[dict[int, int], dict[int, int]]] = {}
        self.kr_subscribed: set[str] = set()
        self.kr_channels: dict[str, int] = {}
        self.htx_seq: dict[str, int] = {}
        self.htx_subscribed: set[str] = set()
        self.instruments: dict[str, dict[str, Instrument]] = {}
        self.trade_subscribed: set[tuple[str, str]] = set()  # (venue, symbol) whose client asked for trades
        self.trade_ids: dict[tuple[str, str], int] = {}
        # nosec B311 below: seeded, reproducible market simulation, not security
        self.trade_rng = {v: random.Random(f"{seed}:trades:{v}") for v in venues}  # nosec B311
        self.trade_net_rng = {v: random.Random(f"{seed}:trade-net:{v}") for v in venues}  # nosec B311

    def _dislocations(self) -> list[Dislocation]:
        rng, out = random.Random(self.rng.random()), []  # nosec B311 # seeded pseudo-random market simulation, not security
        t = T0_NS + int(rng.uniform(15, 30) * S)
        while t < self.end_ns - 5 * S:
            kind = rng.choice(("lag", "jump"))
            bps = rng.choice((-1, 1)) * rng.uniform(12, 35) if kind == "jump" else 0.0
            dur = int(rng.uniform(2, 6) * S)
            out.append(
                Dislocation(rng.choice(self.venues), rng.choice(SYMBOLS).symbol, kind, t, t + dur, round(bps, 2))
            )
            t += dur + int(rng.uniform(25, 55) * S)
        return out

    def fair(self, venue: str, symbol: str, t_ns: int) -> float:
        lag = int(PROFILES[venue].lag_ms * MS)
        for d in self.dislocations:
            if d.venue == venue and d.symbol == symbol and d.start_ns <= t_ns < d.end_ns:
                if d.kind == "lag":
                    return self.latent.price(symbol, d.start_ns - lag)
                return self.latent.price(symbol, t_ns - lag) * (1 + d.bps / 1e4)
        return self.latent.price(symbol, t_ns - lag)

    # ----- plumbing -----
    def at(self, t_ns: int, fn: Callable[..., None], *args: Any) -> None:
        heapq.heappush(self.heap, (t_ns, next(self.seq), fn, args))

    def deliver(self, venue: str, t_server: int, frame: str | bytes, *, net: random.Random | None = None) -> None:
        """Send a frame from the venue: it reaches us after the latency, in order."""
        prof = PROFILES[venue]
        jitter = (net or self.net_rng[venue]).uniform(0, prof.jitter_ms)
        t = t_server + int((prof.latency_ms + jitter) * MS)
        t = max(t, self.last_delivery.get(venue, 0) + 1000)
        self.last_delivery[venue] = t
        self.at(t, self._receive, venue, frame)

    def _receive(self, t: int, venue: str, frame: str | bytes) -> None:
        self.writer.write(t, venue, f"{venue}-1", "recv", frame)
        self.frames[venue] = self.frames.get(venue, 0) + 1
        self._perform(venue, self.feeds[venue].on_frame(frame, t), t)

    def _perform(self, venue: str, actions: list[Action], t: int) -> None:
        arrive = t + int(PROFILES[venue].latency_ms * MS)
        for action in actions:
            if isinstance(action, Send):
                self.writer.write(t, venue, f"{venue}-1", "sent", action.text)
                self.at(arrive, self._on_client_text, venue, action.text)
            elif isinstance(action, FetchSnapshot):
                self.at(arrive, self._bn_snapshot, action.venue_symbol)

    def run(self) -> None:
        for venue in self.venues:
            self._reference(venue)
        for sym in SYMBOLS:
            for venue in self.venues:
                rng = random.Random(f"{self.seed}:book:{venue}:{sym.symbol}")  # nosec B311 # seeded pseudo-random market simulation, not security
                self.books[(venue, sym.symbol)] = _Book(
                    PROFILES[venue], sym.symbol, rng, self.fair(venue, sym.symbol, T0_NS), self.activity
                )
                self.at(T0_NS + int(rng.uniform(0, 20) * MS), self._market, venue, sym.symbol)
        for i, venue in enumerate(self.venues):
            self.at(T0_NS + (50 + 10 * i) * MS, self._open, venue)
            if venue == "binance":
                for s in SYMBOLS:
                    self.at(T0_NS + 100 * MS, self._bn_emit, s.symbol)
            if venue == "htx":
                for s in SYMBOLS:
                    self.at(T0_NS + 100 * MS, self._htx_emit, s.symbol)
                self.at(T0_NS + HTX_PING_NS, self._htx_ping)
            if venue in TRADE_RATE:
                for s in SYMBOLS:
                    self.at(T0_NS + 500 * MS, self._trade, venue, s.symbol)
        while self.heap:
            t, _, fn, args = heapq.heappop(self.heap)
            if t > self.end_ns:
                break
            fn(t, *args)

    # ----- connections and reference data -----
    def _reference(self, venue: str) -> None:
        spec = venue_spec(venue)
        body = _REFERENCE[venue](self.kraken_version)
        self.writer.write(T0_NS, venue, f"{venue}-ref", "rest", body, spec.default_rest_url + spec.reference_path)
        insts = spec.load_instruments(body)
        self.instruments[venue] = {i.symbol: i for i in insts}
        url = _URLS[venue] if venue != "kraken" or self.kraken_version == 2 else "wss://ws.kraken.com"
        self.feeds[venue] = spec.make_feed([self.instruments[venue][s.symbol] for s in SYMBOLS], SETTINGS[venue], url)
        self.writer.add_symbols(venue, [self.instruments[venue][s.symbol].venue_symbol for s in SYMBOLS])

    def _open(self, t: int, venue: str) -> None:
        feed = self.feeds[venue]
        url = getattr(feed, "stream_url", None)
        url = (
            url()
            if callable(url)
            else (_URLS[venue] if venue != "kraken" or self.kraken_version == 2 else "wss://ws.kraken.com")
        )
        self.writer.write(t, venue, f"{venue}-1", "open", "", url)
        if venue == "binance" and "@trade" in url:
            self.trade_subscribed |= {("binance", s.symbol) for s in SYMBOLS}
        self.last_delivery[venue] = t
        if venue == "kraken":
            status = ({"channel": "status", "type": "update",
                       "data": [{"api_version": "v2", "connection_id": 1, "system": "online", "version": "2.0.0"}]}
                      if self.kraken_version == 2
                      else {"connectionID": 1, "event": "systemStatus", "status": "online",
                            "version": "1.9.0"})  # fmt: skip
            self.deliver(venue, t, orjson.dumps(status).decode())
        self._perform(venue, feed.on_open(t), t)

    def _on_client_text(self, t: int, venue: str, text: str) -> None:
        msg = json.loads(text)
        if venue == "kraken":
            self._kr_request(t, msg)
        elif venue == "htx":
            self._htx_request(t, msg)

    # ----- the market clock -----
    def _market(self, t: int, venue: str, symbol: str) -> None:
        prof = PROFILES[venue]
        book = self.books[(venue, symbol)]
        changes = book.update(self.fair(venue, symbol, t))
        if venue == "binance":
            pending = self.bn_pending.setdefault(symbol, {})
            for is_bid, p, q in changes:
                pending[(is_bid, p)] = q
            if changes:
                self.bn_ids[symbol] = self.bn_ids.get(symbol, 1_000_000) + len(changes) + book.rng.randint(0, 2)
        elif venue == "kraken" and symbol in self.kr_subscribed:
            self._kr_update(t, symbol)
        nxt = t + max(MS, int(book.rng.expovariate(1 / prof.update_ms) * MS))
        self.at(nxt, self._market, venue, symbol)

    # ----- public trades: a taker lifts the best ask or hits the best bid (the book itself is not changed) -----
    def _trade(self, t: int, venue: str, symbol: str) -> None:
        rng, prof = self.trade_rng[venue], PROFILES[venue]
        book = self.books[(venue, symbol)]
        buy = rng.random() < 0.5
        price = (min(book.asks) if buy else max(book.bids)) if (book.asks and book.bids) else None
        lots = max(1, int(prof.base_qty[symbol] * 0.3 * rng.lognormvariate(0, 1) * book.lot_per_unit))
        if price is not None and (venue, symbol) in self.trade_subscribed:
            tid = self.trade_ids[(venue, symbol)] = self.trade_ids.get((venue, symbol), 5_000_000) + 1
            pdp, qdp = prof.price_dp[symbol], prof.qty_dp[symbol]
            if venue == "binance":
                vs = self.instruments["binance"][symbol].venue_symbol
                data = {"e": "trade", "E": t // MS, "s": vs, "t": tid, "p": _bn(price, pdp), "q": _bn(lots, qdp),
                        "T": t // MS, "m": not buy, "M": True}  # fmt: skip
                frame = orjson.dumps({"stream": f"{vs.lower()}@trade", "data": data}).decode()
            else:
                side = "buy" if buy else "sell"
                frame = (
                    f'{{"channel":"trade","type":"update","data":[{{"symbol":"{symbol}","side":"{side}",'
                    f'"price":{_num(price, pdp)},"qty":{_num(lots, qdp)},"ord_type":"market","trade_id":{tid},'
                    f'"timestamp":"{_rfc3339(t)}"}}]}}'
                )
            self.deliver(venue, t, frame, net=self.trade_net_rng[venue])
        self.at(t + max(MS, int(rng.expovariate(TRADE_RATE[venue]) * S)), self._trade, venue, symbol)

    # ----- Binance -----
    def _bn_emit(self, t: int, symbol: str) -> None:
        pending = self.bn_pending.get(symbol)
        if pending:
            vs = self.instruments["binance"][symbol].venue_symbol
            pdp, qdp = PROFILES["binance"].price_dp[symbol], PROFILES["binance"].qty_dp[symbol]
            first = self.bn_last_u(symbol) + 1
            last = self.bn_ids[symbol]
            lv = sorted(pending.items(), key=lambda kv: (not kv[0][0], kv[0][1] * (-1 if kv[0][0] else 1)))
            data = {"e": "depthUpdate", "E": t // MS, "s": vs, "U": first, "u": last,
                    "b": [[_bn(p, pdp), _bn(q, qdp)] for (b, p), q in lv if b],
                    "a": [[_bn(p, pdp), _bn(q, qdp)] for (b, p), q in lv if not b]}  # fmt: skip
            self.bn_sent_u[symbol] = last
            pending.clear()
            self.deliver("binance", t, orjson.dumps({"stream": f"{vs.lower()}@depth@100ms", "data": data}).decode())
        self.at(t + 100 * MS, self._bn_emit, symbol)

    def bn_last_u(self, symbol: str) -> int:
        return self.bn_sent_u.setdefault(symbol, 1_000_000)

    def _bn_snapshot(self, t: int, venue_symbol: str) -> None:
        symbol = next(s for s, i in self.instruments["binance"].items() if i.venue_symbol == venue_symbol)
        book = self.books[("binance", symbol)]
        pdp, qdp = PROFILES["binance"].price_dp[symbol], PROFILES["binance"].qty_dp[symbol]
        bids, asks = book.top(1000)
        body = orjson.dumps({"lastUpdateId": self.bn_ids.get(symbol, 1_000_000),
                             "bids": [[_bn(p, pdp), _bn(q, qdp)] for p, q in bids],
                             "asks": [[_bn(p, pdp), _bn(q, qdp)] for p, q in asks]}).decode()  # fmt: skip
        arrive = t + int((PROFILES["binance"].latency_ms + 25) * MS)  # REST is slower than the stream
        self.at(arrive, self._bn_rest, venue_symbol, body)

    def _bn_rest(self, t: int, venue_symbol: str, body: str) -> None:
        feed = self.feeds["binance"]
        url, params = feed.snapshot_request(venue_symbol)  # type: ignore[attr-defined]
        self.writer.write(
            t, "binance", "binance-1", "rest", body, url + "?" + "&".join(f"{k}={v}" for k, v in params.items())
        )
        self._perform("binance", feed.on_rest_snapshot(venue_symbol, body, t), t)  # type: ignore[attr-defined]

    # ----- Kraken -----
    def _kr_symbol(self, wire: str) -> str | None:
        for s, inst in self.instruments["kraken"].items():
            if wire in (s, inst.venue_symbol):
                return s
        return None

    def _kr_request(self, t: int, msg: dict[str, Any]) -> None:
        if self.kraken_version == 2:
            params = msg.get("params") or {}
            if params.get("channel") == "trade":
                for wire in params.get("symbol", []):
                    stamp = _rfc3339(t)
                    ack = {"method": "subscribe", "req_id": msg.get("req_id"),
                           "result": {"channel": "trade", "snapshot": True, "symbol": wire},
                           "success": True, "time_in": stamp, "time_out": stamp}  # fmt: skip
                    self.deliver("kraken", t, orjson.dumps(ack).decode())
                    sym = self._kr_symbol(wire)
                    if sym is not None:
                        self.trade_subscribed.add(("kraken", sym))
                return
            for wire in params.get("symbol", []):
                sym = self._kr_symbol(wire)
                stamp = _rfc3339(t)
                ack = {"method": "subscribe", "req_id": msg.get("req_id"),
                       "result": {"channel": "book", "depth": params.get("depth", 10), "snapshot": True,
                                  "symbol": wire},
                       "success": True, "time_in": stamp, "time_out": stamp}  # fmt: skip
                self.deliver("kraken", t, orjson.dumps(ack).decode())
                if sym is not None:
                    self._kr_snapshot(t, sym, int(params.get("depth", 10)))
        else:
            depth = int((msg.get("subscription") or {}).get("depth", 10))
            for wire in msg.get("pair", []):
                sym = self._kr_symbol(wire)
                chan = self.kr_channels.setdefault(wire, 100 + len(self.kr_channels))
                ack = {"channelID": chan, "channelName": f"book-{depth}", "event": "subscriptionStatus", "pair": wire,
                       "status": "subscribed", "subscription": {"depth": depth, "name": "book"}}  # fmt: skip
                self.deliver("kraken", t, orjson.dumps(ack).decode())
                if sym is not None:
                    self._kr_snapshot(t, sym, depth)

    def _kr_snapshot(self, t: int, symbol: str, depth: int) -> None:
        bids, asks = self.books[("kraken", symbol)].top(depth)
        self.views[("kraken", symbol)] = (dict(bids), dict(asks))
        self.kr_depth = depth
        self.kr_subscribed.add(symbol)
        if self.kraken_version == 2:
            frame = self._kr_v2("snapshot", t, symbol, bids, asks)
        else:
            inst = self.instruments["kraken"][symbol]
            body = {
                "as": [self._kr_v1_level(symbol, p, q, t) for p, q in asks],
                "bs": [self._kr_v1_level(symbol, p, q, t) for p, q in bids],
            }
            frame = orjson.dumps(
                [self.kr_channels[inst.venue_symbol], body, f"book-{depth}", inst.venue_symbol]
            ).decode()
        self.deliver("kraken", t, frame)

    def _kr_update(self, t: int, symbol: str) -> None:
        book = self.books[("kraken", symbol)]
        vb, va = self.views[("kraken", symbol)]
        bids, asks = book.top(self.kr_depth)
        bd, ad = _view_diff(vb, bids, book.bids), _view_diff(va, asks, book.asks)
        if not bd and not ad:
            return
        self.views[("kraken", symbol)] = (dict(bids), dict(asks))
        if self.kraken_version == 2:
            frame = self._kr_v2("update", t, symbol, bd, ad)
        else:
            inst = self.instruments["kraken"][symbol]
            parts: list[Any] = []
            if ad:
                parts.append({"a": [self._kr_v1_level(symbol, p, q, t) for p, q in ad]})
            if bd:
                parts.append({"b": [self._kr_v1_level(symbol, p, q, t) for p, q in bd]})
            parts[-1]["c"] = str(self._kr_crc(symbol))
            frame = orjson.dumps(
                [self.kr_channels[inst.venue_symbol], *parts, f"book-{self.kr_depth}", inst.venue_symbol]
            ).decode()
        self.deliver("kraken", t, frame)

    def _kr_crc(self, symbol: str) -> int:
        vb, va = self.views[("kraken", symbol)]
        pdp, qdp = PROFILES["kraken"].price_dp[symbol], PROFILES["kraken"].qty_dp[symbol]
        asks = [(format_units(p, pdp), format_units(q, qdp)) for p, q in sorted(va.items())[:10]]
        bids = [(format_units(p, pdp), format_units(q, qdp)) for p, q in sorted(vb.items(), reverse=True)[:10]]
        return checksum_of_strings(asks, bids)

    def _kr_v2(self, kind: str, t: int, symbol: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> str:
        pdp, qdp = PROFILES["kraken"].price_dp[symbol], PROFILES["kraken"].qty_dp[symbol]

        def levels(side: list[tuple[int, int]]) -> str:
            return ",".join(f'{{"price":{_num(p, pdp)},"qty":{_num(q, qdp)}}}' for p, q in side)

        return (
            f'{{"channel":"book","type":"{kind}","data":[{{"symbol":"{symbol}","bids":[{levels(bids)}],'
            f'"asks":[{levels(asks)}],"checksum":{self._kr_crc(symbol)},"timestamp":"{_rfc3339(t)}"}}]}}'
        )

    def _kr_v1_level(self, symbol: str, p: int, q: int, t: int) -> list[str]:
        pdp, qdp = PROFILES["kraken"].price_dp[symbol], PROFILES["kraken"].qty_dp[symbol]
        return [format_units(p, pdp), format_units(q, qdp), format_units(t // 1000, 6)]

    # ----- HTX -----
    def _htx_request(self, t: int, msg: dict[str, Any]) -> None:
        if "pong" in msg:
            return
        if "sub" in msg:
            self.htx_subscribed.add(msg["sub"])
            self.deliver(
                "htx", t, encode_frame({"id": msg.get("id"), "status": "ok", "subbed": msg["sub"], "ts": t // MS})
            )
        elif "req" in msg:
            vs = msg["req"].split(".")[1]
            symbol = next(s for s, i in self.instruments["htx"].items() if i.venue_symbol == vs)
            vb, va = self._htx_view(symbol)
            bids = [[_dec(p, symbol, True), _dec(q, symbol, False)] for p, q in sorted(vb.items(), reverse=True)]
            asks = [[_dec(p, symbol, True), _dec(q, symbol, False)] for p, q in sorted(va.items())]
            data = {"seqNum": self.htx_seq[symbol], "bids": bids, "asks": asks}
            self.deliver(
                "htx",
                t,
                encode_frame({"id": msg.get("id"), "rep": msg["req"], "status": "ok", "ts": t // MS, "data": data}),
            )

    def _htx_view(self, symbol: str) -> tuple[dict[int, int], dict[int, int]]:
        key = ("htx", symbol)
        if key not in self.views:
            bids, asks = self.books[key].top(HTX_LEVELS)
            self.views[key] = (dict(bids), dict(asks))
            self.htx_seq[symbol] = 100_020_142_010 + 1000 * len(self.htx_seq)
        return self.views[key]

    def _htx_emit(self, t: int, symbol: str) -> None:
        vb, va = self._htx_view(symbol)
        book = self.books[("htx", symbol)]
        bids, asks = book.top(HTX_LEVELS)
        nb, na = dict(bids), dict(asks)
        bd = sorted(
            [(p, q) for p, q in nb.items() if vb.get(p) != q] + [(p, 0) for p in vb if p not in nb], reverse=True
        )
        ad = sorted([(p, q) for p, q in na.items() if va.get(p) != q] + [(p, 0) for p in va if p not in na])
        if bd or ad:
            prev = self.htx_seq[symbol]
            self.htx_seq[symbol] = prev + book.rng.randint(1, 3)
            self.views[("htx", symbol)] = (nb, na)
            vs = self.instruments["htx"][symbol].venue_symbol
            topic = f"market.{vs}.mbp.{HTX_LEVELS}"
            if topic in self.htx_subscribed:
                tick = {"seqNum": self.htx_seq[symbol], "prevSeqNum": prev,
                        "bids": [[_dec(p, symbol, True), _dec(q, symbol, False)] for p, q in bd],
                        "asks": [[_dec(p, symbol, True), _dec(q, symbol, False)] for p, q in ad]}  # fmt: skip
                self.deliver("htx", t, encode_frame({"ch": topic, "ts": t // MS, "tick": tick}))
        self.at(t + 100 * MS, self._htx_emit, symbol)

    def _htx_ping(self, t: int) -> None:
        self.deliver("htx", t, encode_frame({"ping": t // MS}))
        self.at(t + HTX_PING_NS, self._htx_ping)


def _bn(units: int, dp: int) -> str:
    return format_units(units * 10 ** (8 - dp), 8)


def _num(units: int, dp: int) -> str:
    text = format_units(units, dp)
    return text.rstrip("0").rstrip(".") if "." in text else text


def _dec(units: int, symbol: str, price: bool) -> Any:
    prof = PROFILES["htx"]
    return Decimal(_num(units, prof.price_dp[symbol] if price else prof.qty_dp[symbol])) if units else 0


def _rfc3339(t_ns: int) -> str:
    secs, ns = divmod(t_ns, S)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns // 1000:06d}Z"


# ----- reference data, as each venue serves it -----
def _bn_reference(_: int) -> str:
    prof, symbols = PROFILES["binance"], []
    for s in SYMBOLS:
        base, quote = s.symbol.split("/")
        tick, lot = _bn(1, prof.price_dp[s.symbol]), _bn(1, prof.qty_dp[s.symbol])
        filters = [
            {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "1000000.00000000", "tickSize": tick},
            {"filterType": "LOT_SIZE", "minQty": lot, "maxQty": "9000.00000000", "stepSize": lot},
            {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
        ]  # fmt: skip
        symbols.append(
            {"symbol": base + quote, "status": "TRADING", "baseAsset": base, "quoteAsset": quote, "filters": filters}
        )
    return orjson.dumps({"timezone": "UTC", "serverTime": T0_NS // MS, "rateLimits": [], "symbols": symbols}).decode()


def _kr_reference(_: int) -> str:
    prof, result = PROFILES["kraken"], {}
    for s in SYMBOLS:
        base, quote = s.symbol.split("/")
        kbase = "XBT" if base == "BTC" else base
        result[kbase + quote] = {"altname": kbase + quote, "wsname": f"{kbase}/{quote}", "base": kbase, "quote": quote,
                                 "pair_decimals": prof.price_dp[s.symbol], "lot_decimals": prof.qty_dp[s.symbol],
                                 "ordermin": "0.0001", "tick_size": format_units(1, prof.price_dp[s.symbol]),
                                 "status": "online"}  # fmt: skip
    return orjson.dumps({"error": [], "result": result}).decode()


def _htx_reference(_: int) -> str:
    prof, data = PROFILES["htx"], []
    for s in SYMBOLS:
        base, quote = (x.lower() for x in s.symbol.split("/"))
        data.append({"base-currency": base, "quote-currency": quote, "price-precision": prof.price_dp[s.symbol],
                     "amount-precision": prof.qty_dp[s.symbol], "symbol": base + quote, "state": "online",
                     "min-order-amt": Decimal("0.0001"), "max-order-amt": 1000, "min-order-value": 5,
                     "api-trading": "enabled"})  # fmt: skip
    return dumps_exact({"status": "ok", "data": data})


_REFERENCE: dict[str, Callable[[int], str]] = {"binance": _bn_reference, "kraken": _kr_reference, "htx": _htx_reference}
_URLS = {"binance": "", "kraken": "wss://ws.kraken.com/v2", "htx": "wss://api.huobi.pro/feed"}


def generate_market(
    out: str | Path,
    *,
    seed: int = 1,
    seconds: float = 300.0,
    venues: tuple[str, ...] = ("binance", "kraken", "htx"),
    kraken_version: int = 2,
    rotate_bytes: int | None = None,
    activity: float = 1.0,
) -> GeneratedMarket:
    """Write a generated market (one recording) into ``out``; ``market.json`` records the parameters and the
    dislocation episodes. ``activity`` scales the levels touched per book change (1 = the shipped sample; the
    replay benchmark uses a busier market). Deterministic: the same arguments write the same bytes."""
    folder = Path(out)
    writer = CaptureWriter(
        folder, recording=f"generated-seed{seed}", prefix="market", rotate_bytes=rotate_bytes, compresslevel=9
    )
    sim = _Sim(seed, seconds, writer, kraken_version, venues, activity)
    sim.run()
    writer.close()
    meta = {
        "generator": "connectors/simulators/generated.py",
        "seed": seed,
        "seconds": seconds,
        "activity": activity,
        "start_ns": T0_NS,
        "venues": list(venues),
        "kraken_ws_version": kraken_version,
        "symbols": [asdict(s) for s in SYMBOLS],
        "profiles": {v: asdict(PROFILES[v]) for v in venues},
        "dislocations": [asdict(d) for d in sim.dislocations],
        "frames": dict(sorted(sim.frames.items())),
    }
    (folder / "market.json").write_text(json.dumps(meta, indent=2) + "\n")
    return GeneratedMarket(seed, seconds, folder, sim.dislocations, dict(sim.frames))
