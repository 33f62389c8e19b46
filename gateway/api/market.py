"""Public market endpoints: ping, time, exchangeInfo, depth, trades, klines, tickers, avgPrice.

Depth and bookTicker come from the published book (never crossed or locked, router/published.py). Trades,
klines, tickers and avgPrice come from the market as a whole: the venues' public trades (Binance, Kraken,
HTX, mirrored by the connectors) and Braid's own client fills, one id sequence per symbol (marketdata.py).
"""

from __future__ import annotations

from decimal import Decimal

import orjson
from aiohttp import web

from config.instruments import Instrument
from domain import now_ms
from gateway.api import errors
from gateway.api.context import CTX, endpoint, params_of
from gateway.api.errors import json_response
from gateway.api.market_candles import INTERVALS, parse_time_zone, parse_window
from gateway.api.marketdata import fmt
from gateway.binance_errors import RequestError

ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET"]
_DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000, 5000)


def _dec(d: Decimal) -> str:
    return fmt(d)


def symbol_info(inst: Instrument) -> dict[str, object]:
    """One ``symbols[]`` entry of exchangeInfo: Binance's fields and filters from the instrument's rules."""
    market_step = inst.market_step_size or inst.step_size
    market_max = inst.market_max_qty or inst.max_qty
    filters: list[dict[str, object]] = [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": _dec(inst.min_price),
            "maxPrice": _dec(inst.max_price),
            "tickSize": _dec(inst.tick_size),
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": _dec(inst.min_qty),
            "maxQty": _dec(inst.max_qty or Decimal(9000000)),
            "stepSize": _dec(inst.step_size),
        },
        {
            "filterType": "MARKET_LOT_SIZE",
            "minQty": _dec(inst.min_qty),
            "maxQty": _dec(market_max or Decimal(9000000)),
            "stepSize": _dec(market_step),
        },
        {
            "filterType": "MIN_NOTIONAL",
            "minNotional": _dec(inst.min_notional),
            "applyToMarket": inst.apply_min_to_market,
            "avgPriceMins": 5,
        },
        {
            "filterType": "NOTIONAL",
            "minNotional": _dec(inst.min_notional),
            "applyMinToMarket": inst.apply_min_to_market,
            "maxNotional": _dec(inst.max_notional or Decimal(9000000000)),
            "applyMaxToMarket": False,
            "avgPriceMins": 5,
        },
    ]
    return {
        "symbol": inst.base + inst.quote,
        "status": "TRADING" if inst.trading else "BREAK",
        "baseAsset": inst.base,
        "baseAssetPrecision": 8,
        "quoteAsset": inst.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ORDER_TYPES,
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": filters,
        "permissions": ["SPOT"],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "NONE",
        "allowedSelfTradePreventionModes": ["NONE"],
    }


def _symbol(request: web.Request, required: bool = True) -> str | None:
    ctx = request.app[CTX]
    sym = params_of(request).get("symbol")
    if sym is None:
        if required:
            raise errors.mandatory("symbol")
        return None
    sym = sym.upper()
    if sym not in ctx.publisher.feeds:
        raise errors.invalid_symbol()
    return sym


def _symbols(request: web.Request) -> list[str]:
    """``symbol=X`` or ``symbols=["X","Y"]``, or all symbols."""
    ctx = request.app[CTX]
    p = params_of(request)
    if p.get("symbol") is not None:
        return [_symbol(request)]  # type: ignore[list-item]
    raw = p.get("symbols")
    if raw is None:
        return list(ctx.publisher.feeds)
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise errors.bad_value("symbols") from None
    if not isinstance(parsed, list) or not all(isinstance(s, str) for s in parsed):  # e.g. symbols=7
        raise errors.bad_value("symbols")
    syms = [s.upper() for s in parsed]
    for s in syms:
        if s not in ctx.publisher.feeds:
            raise errors.invalid_symbol()
    return syms


@endpoint(weight=1)
async def ping(request: web.Request) -> web.Response:
    return json_response({})


@endpoint(weight=1)
async def server_time(request: web.Request) -> web.Response:
    return json_response({"serverTime": request.app[CTX].auth.clock_ms()})  # the clock signatures are checked on


@endpoint(weight=20)
async def exchange_info(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    wanted = set(_symbols(request)) if params_of(request).get("symbol") or params_of(request).get("symbols") else None
    symbols = [symbol_info(i) for s, i in ctx.service.by_symbol.items() if wanted is None or s in wanted]
    return json_response(
        {
            "timezone": "UTC",
            "serverTime": now_ms(),
            "rateLimits": ctx.limiter.rate_limits(),
            "exchangeFilters": [],
            "symbols": symbols,
        }
    )


def _depth_weight(limit: int) -> int:
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


@endpoint(weight=5)
async def depth(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    sym = _symbol(request)
    limit = params_of(request).integer("limit", default=100, lo=1, hi=5000)
    assert sym is not None and limit is not None
    extra = _depth_weight(limit) - 5
    if extra > 0:
        ctx.limiter.charge(request.remote or "?", extra)
    feed = ctx.publisher.feeds[sym]
    feed.refresh()  # the answer and the stream share one numbering: publish any change first
    return json_response(feed.snapshot(limit))


@endpoint(weight=25)
async def trades(request: web.Request) -> web.Response:
    """``trades`` (the latest) and ``historicalTrades`` (from ``fromId`` on): venue trades and Braid's own."""
    ctx = request.app[CTX]
    sym = _symbol(request)
    p = params_of(request)
    limit = p.integer("limit", default=500, lo=1, hi=1000)
    from_id = p.integer("fromId")
    assert sym is not None and limit is not None
    kept = ctx.publisher.trades[sym]
    if from_id is None:
        rows = list(kept)[-limit:]
    else:
        first = kept[0].id if kept else 0
        start = max(0, from_id - first)  # ids are consecutive in the kept window
        rows = [kept[i] for i in range(start, min(len(kept), start + limit))]
    return json_response([t.as_rest() for t in rows])


@endpoint(weight=4)
async def agg_trades(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    p = params_of(request)
    sym = _symbol(request)
    limit = p.integer("limit", default=500, lo=1, hi=1000)
    start, end = p.integer("startTime"), p.integer("endTime")
    from_id = p.integer("fromId")
    assert sym is not None and limit is not None
    rows = [
        t
        for t in ctx.publisher.trades[sym]
        if (start is None or t.time >= start)
        and (end is None or t.time <= end)
        and (from_id is None or t.id >= from_id)
    ]
    picked = rows[:limit] if (from_id is not None or start is not None) else rows[-limit:]
    return json_response([t.as_agg() for t in picked])


@endpoint(weight=2)
async def klines(request: web.Request) -> web.Response:
    """``klines`` and ``uiKlines``: every Binance interval, ``timeZone`` shifting the buckets (not the times)."""
    ctx = request.app[CTX]
    p = params_of(request)
    sym = _symbol(request)
    interval = p.required("interval")
    if interval not in INTERVALS:
        raise errors.ApiError.of(RequestError.INVALID_INTERVAL)
    limit = p.integer("limit", default=500, lo=1, hi=1000)
    tz = parse_time_zone(p.get("timeZone"))
    if tz is None:
        raise errors.bad_value("timeZone")
    assert sym is not None and limit is not None
    rows = ctx.publisher.klines(sym, interval, p.integer("startTime"), p.integer("endTime"), limit, tz)
    return json_response(rows)


_MINI = ("symbol", "openPrice", "highPrice", "lowPrice", "lastPrice", "volume", "quoteVolume", "openTime",
         "closeTime", "firstId", "lastId", "count")  # fmt: skip


def _ticker_type(request: web.Request) -> str:
    kind = params_of(request).get("type") or "FULL"
    if kind not in ("FULL", "MINI"):
        raise errors.bad_value("type")
    return kind


@endpoint(weight=2)
async def ticker_24h(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    syms = _symbols(request)
    kind = _ticker_type(request)
    rows = [ctx.publisher.ticker_24h(s) for s in syms]
    if kind == "MINI":
        rows = [{k: r[k] for k in _MINI} for r in rows]
    single = params_of(request).get("symbol") is not None
    return json_response(rows[0] if single else rows)


@endpoint(weight=4)
async def ticker_window(request: web.Request) -> web.Response:
    """The rolling-window ticker (``windowSize`` 1m..59m, 1h..23h, 1d..7d; default 1d)."""
    ctx = request.app[CTX]
    p = params_of(request)
    if p.get("symbol") is None and p.get("symbols") is None:
        raise errors.mandatory("symbol")
    syms = _symbols(request)
    kind = _ticker_type(request)
    window = parse_window(p.get("windowSize"))
    if window is None:
        raise errors.bad_value("windowSize")
    rows = [ctx.publisher.window_stats(s, window) for s in syms]
    if kind == "MINI":
        rows = [{k: r[k] for k in _MINI} for r in rows]
    return json_response(rows[0] if p.get("symbol") is not None else rows)


@endpoint(weight=2)
async def ticker_price(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    syms = _symbols(request)
    rows = [{"symbol": s, "price": fmt(ctx.publisher.price(s))} for s in syms]
    return json_response(rows[0] if params_of(request).get("symbol") is not None else rows)


@endpoint(weight=2)
async def book_ticker(request: web.Request) -> web.Response:
    """The top of the published book: never crossed or locked (router/published.py)."""
    ctx = request.app[CTX]
    syms = _symbols(request)
    rows = []
    for s in syms:
        bp, bq, ap, aq = ctx.publisher.feeds[s].top()
        rows.append({"symbol": s, "bidPrice": fmt(bp), "bidQty": fmt(bq), "askPrice": fmt(ap), "askQty": fmt(aq)})
    return json_response(rows[0] if params_of(request).get("symbol") is not None else rows)


@endpoint(weight=2)
async def avg_price(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    sym = _symbol(request)
    assert sym is not None
    price, last = ctx.publisher.avg_price(sym)
    return json_response({"mins": 5, "price": fmt(price), "closeTime": last})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v3/ping", ping)
    r.add_get("/api/v3/time", server_time)
    r.add_get("/api/v3/exchangeInfo", exchange_info)
    r.add_get("/api/v3/depth", depth)
    r.add_get("/api/v3/trades", trades)
    r.add_get("/api/v3/historicalTrades", trades)
    r.add_get("/api/v3/aggTrades", agg_trades)
    r.add_get("/api/v3/klines", klines)
    r.add_get("/api/v3/uiKlines", klines)
    r.add_get("/api/v3/ticker/24hr", ticker_24h)
    r.add_get("/api/v3/ticker", ticker_window)
    r.add_get("/api/v3/ticker/price", ticker_price)
    r.add_get("/api/v3/ticker/bookTicker", book_ticker)
    r.add_get("/api/v3/avgPrice", avg_price)
