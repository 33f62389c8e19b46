"""The service's status surface: health and counters per venue, and the consolidated books."""

from __future__ import annotations

import html
from decimal import Decimal, InvalidOperation
from typing import cast

import orjson
from aiohttp import web

from gateway.binance_errors import INVALID_SYMBOL, RequestError, binance_error
from router.market import MarketData, ReplayMarketData
from router.reasons import Reason

MARKET_KEY = web.AppKey[MarketData | ReplayMarketData]("market")


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body, default=str), status=status, content_type="application/json")


def _error(key: RequestError | Reason, **fields: object) -> web.Response:
    code, msg, status = binance_error(key, "", **fields)
    return _json({"code": code, "msg": msg}, status=status)


async def status(request: web.Request) -> web.Response:
    return _json(request.app[MARKET_KEY].status())


async def book(request: web.Request) -> web.Response:
    md = request.app[MARKET_KEY]
    symbol = request.query.get("symbol", "")
    if symbol not in md.market:
        return _error(INVALID_SYMBOL)
    try:
        depth = int(request.query.get("depth", "10"))
        if not 1 <= depth <= 1000:
            raise ValueError
    except ValueError:
        return _error(RequestError.ILLEGAL_RANGE, name="depth", legal="1..1000")
    fees = request.query.get("fees", "") in ("1", "true")
    cb = md.market[symbol]
    body = cb.snapshot(depth, fee_adjusted=fees)
    mid = cb.mid()
    body["mid"] = None if mid is None else str(mid)
    if "size" in request.query:
        try:
            size = Decimal(request.query["size"])
            if not size.is_finite() or size <= 0:
                raise InvalidOperation
        except InvalidOperation:
            return _error(RequestError.ILLEGAL_CHARS, name="size")
        body["buy_vwap"] = cb.vwap("buy", size, fee_adjusted=fees)
        body["sell_vwap"] = cb.vwap("sell", size, fee_adjusted=fees)
    return _json(body)


async def page(request: web.Request) -> web.Response:
    md = request.app[MARKET_KEY]
    st = md.status()
    rows = []
    for name, v in st["venues"].items():
        synced = sum(1 for b in v["books"].values() if b["synced"])
        age = "-" if v["last_frame_age_s"] is None else f"{v['last_frame_age_s']:.1f}s"
        state = "stale" if v["stale"] else "live"
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{state}</td><td>{age}</td><td>{synced}/{len(v['books'])}</td>"
            f"<td>{v['messages']}</td><td>{v['resyncs']}</td><td>{v['checksum_failures']}</td>"
            f"<td>{v['reconnects']}</td><td>{v['bad_frames']}</td></tr>"
        )
    books = []
    for sym in md.market:
        snap = md.market[sym].snapshot(10)
        venues = ", ".join(cast(list[str], snap["venues"])) or "no live venue"
        lines = [f"<h3>{html.escape(sym)} <small>({venues})</small></h3><table>"]
        lines.append(
            "<tr><th>bid venues</th><th>bid qty</th><th>bid</th><th>ask</th><th>ask qty</th><th>ask venues</th></tr>"
        )
        for b, a in zip(snap["bids"], snap["asks"], strict=False):  # type: ignore[call-overload]
            lines.append(
                f"<tr><td>{html.escape(str(b['venues']))}</td><td>{b['qty']}</td><td>{b['price']}</td>"
                f"<td>{a['price']}</td><td>{a['qty']}</td><td>{html.escape(str(a['venues']))}</td></tr>"
            )
        books.append("".join(lines) + "</table>")
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><meta http-equiv='refresh' content='2'>"
        "<title>Braid status</title><style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:right}</style>"
        "</head><body><h1>Braid</h1><h2>Venues</h2><table><tr><th>venue</th><th>state</th><th>last frame</th>"
        "<th>books synced</th><th>messages</th><th>resyncs</th><th>checksum failures</th><th>reconnects</th>"
        "<th>bad frames</th></tr>"
        + "".join(rows)
        + "</table><h2>Consolidated books</h2>"
        + "".join(books)
        + "</body></html>"
    )
    return web.Response(text=body, content_type="text/html")


def add_routes(app: web.Application, md: MarketData | ReplayMarketData) -> None:
    app[MARKET_KEY] = md
    app.router.add_get("/", page)
    app.router.add_get("/status", status)
    app.router.add_get("/book", book)
