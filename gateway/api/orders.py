"""Order and account endpoints: order (new/query/cancel), order/test, openOrders, allOrders, myTrades, account."""

from __future__ import annotations

from decimal import Decimal

from aiohttp import web

from domain import OPEN_STATUSES, now_ms
from gateway.api import errors
from gateway.api.auth import Security
from gateway.api.context import CTX, endpoint, key_of, params_of
from gateway.api.errors import ApiError, json_response
from gateway.api.marketdata import fmt
from gateway.api.params import Params
from gateway.binance_errors import RequestError
from gateway.orders_service import NewOrderRequest, OrderRefused, OrderRow
from wallets import Balance, OrderRecord, TradeRecord, UnknownOrder


def order_json(o: OrderRow | OrderRecord) -> dict[str, object]:
    """The order as GET /api/v3/order shows it."""
    return {
        "symbol": o.symbol,
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": o.client_order_id,
        "price": fmt(o.price),
        "origQty": fmt(o.orig_qty),
        "executedQty": fmt(o.executed_qty),
        "cummulativeQuoteQty": fmt(o.cum_quote),
        "status": o.status,
        "timeInForce": o.tif or "GTC",
        "type": o.type,
        "side": o.side,
        "stopPrice": fmt(Decimal(0)),
        "icebergQty": fmt(Decimal(0)),
        "time": o.time,
        "updateTime": o.update_time,
        "isWorking": o.status in OPEN_STATUSES,
        "workingTime": o.time,
        "origQuoteOrderQty": fmt(o.orig_quote_qty),
        "selfTradePreventionMode": "NONE",
    }


def fill_json(t: TradeRecord) -> dict[str, object]:
    return {
        "price": fmt(t.price),
        "qty": fmt(t.qty),
        "commission": fmt(t.commission + t.markup),
        "commissionAsset": t.commission_asset,
        "tradeId": t.trade_id,
    }


def trade_json(t: TradeRecord) -> dict[str, object]:
    return {
        "symbol": t.symbol,
        "id": t.trade_id,
        "orderId": t.order_id,
        "orderListId": -1,
        "price": fmt(t.price),
        "qty": fmt(t.qty),
        "quoteQty": fmt(t.quote_qty),
        "commission": fmt(t.commission + t.markup),
        "commissionAsset": t.commission_asset,
        "time": t.time,
        "isBuyer": t.is_buyer,
        "isMaker": t.is_maker,
        "isBestMatch": True,
    }


def new_order_json(o: OrderRow, fills: list[TradeRecord], resp_type: str) -> dict[str, object]:
    if resp_type == "ACK":
        return {
            "symbol": o.symbol,
            "orderId": o.order_id,
            "orderListId": -1,
            "clientOrderId": o.client_order_id,
            "transactTime": o.time,
        }
    out: dict[str, object] = {
        "symbol": o.symbol,
        "orderId": o.order_id,
        "orderListId": -1,
        "clientOrderId": o.client_order_id,
        "transactTime": o.time,
        "price": fmt(o.price),
        "origQty": fmt(o.orig_qty),
        "executedQty": fmt(o.executed_qty),
        "origQuoteOrderQty": fmt(o.orig_quote_qty),
        "cummulativeQuoteQty": fmt(o.cum_quote),
        "status": o.status,
        "timeInForce": o.tif or "GTC",
        "type": o.type,
        "side": o.side,
        "workingTime": o.time,
        "selfTradePreventionMode": "NONE",
    }
    if resp_type == "FULL":
        out["fills"] = [fill_json(t) for t in fills]
    return out


def _refused(exc: OrderRefused) -> ApiError:
    return ApiError(exc.code, exc.msg)


def _request(p: Params) -> NewOrderRequest:
    get = p.values.get  # text fields straight from the dict (an empty value counts as not sent)
    required, decimal = p.required, p.decimal
    td = get("trailingDelta") or None
    return NewOrderRequest(
        symbol=required("symbol").upper(),
        side=required("side").upper(),
        type=required("type").upper(),
        tif=(get("timeInForce") or "").upper() or None,
        quantity=decimal("quantity"),
        quote_qty=decimal("quoteOrderQty"),
        price=decimal("price"),
        client_order_id=get("newClientOrderId") or None,
        resp_type=(get("newOrderRespType") or "").upper() or None,
        stop_price=decimal("stopPrice"),
        trailing_delta=None if td is None else p.integer("trailingDelta"),
    )


@endpoint(weight=1, security=Security.TRADE, order=True)
async def new_order(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    p = params_of(request)
    req = _request(p)
    resp_type = req.resp_type or ("FULL" if req.type in ("MARKET", "LIMIT") else "ACK")
    if resp_type not in ("ACK", "RESULT", "FULL"):
        raise ApiError.of(RequestError.ILLEGAL_CHARS, name="newOrderRespType")
    ctx.auth.still_fresh(p)
    try:
        placed = await ctx.service.place(ctx.caller(key_of(request)), req)
    except OrderRefused as exc:
        raise _refused(exc) from None
    return json_response(new_order_json(placed.order, placed.fills, resp_type))


@endpoint(weight=1, security=Security.TRADE)
async def test_order(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    try:
        ctx.service.validate(_request(params_of(request)))
    except OrderRefused as exc:
        raise _refused(exc) from None
    return json_response({})


async def _find(request: web.Request) -> OrderRecord:
    ctx = request.app[CTX]
    p = params_of(request)
    sym = p.required("symbol").upper()
    if sym not in ctx.service.by_symbol:
        raise errors.invalid_symbol()
    oid = p.integer("orderId")
    cid = p.get("origClientOrderId")
    if oid is None and cid is None:
        raise ApiError.of(RequestError.ONE_OF_MANDATORY, first="origClientOrderId", second="orderId")
    try:
        o = await ctx.service.wallets.orders.get(
            ctx.caller(key_of(request)).account_id, order_id=oid, client_order_id=cid
        )
    except UnknownOrder:
        raise errors.unknown_order() from None
    if o.symbol != sym:
        raise errors.unknown_order()
    return o


@endpoint(weight=4, security=Security.USER_DATA)
async def query_order(request: web.Request) -> web.Response:
    return json_response(order_json(await _find(request)))


@endpoint(weight=1, security=Security.TRADE)
async def cancel_order(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    p = params_of(request)
    sym = p.required("symbol").upper()
    oid = p.integer("orderId")
    cid = p.get("origClientOrderId")
    if oid is None and cid is None:
        raise ApiError.of(RequestError.ONE_OF_MANDATORY, first="origClientOrderId", second="orderId")
    try:
        o = await ctx.service.cancel(ctx.caller(key_of(request)), sym, oid, cid)
    except OrderRefused as exc:
        raise _refused(exc) from None
    body = order_json(o)
    body["origClientOrderId"] = o.client_order_id
    body["transactTime"] = now_ms()
    return json_response(body)


@endpoint(weight=6, security=Security.USER_DATA)
async def open_orders(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    sym = params_of(request).get("symbol")
    if sym is not None and sym.upper() not in ctx.service.by_symbol:
        raise errors.invalid_symbol()
    rows = await ctx.service.wallets.orders.open_orders(
        ctx.caller(key_of(request)).account_id, sym.upper() if sym else None
    )
    return json_response([order_json(o) for o in rows])


@endpoint(weight=1, security=Security.TRADE)
async def cancel_open_orders(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    sym = params_of(request).required("symbol").upper()
    try:
        rows = await ctx.service.cancel_all(ctx.caller(key_of(request)), sym)
    except OrderRefused as exc:
        raise _refused(exc) from None
    if not rows:  # Binance answers an empty cancel-all this way
        raise errors.unknown_cancel()
    out = []
    for o in rows:
        body = order_json(o)
        body["origClientOrderId"] = o.client_order_id
        out.append(body)
    return json_response(out)


@endpoint(weight=20, security=Security.USER_DATA)
async def all_orders(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    p = params_of(request)
    sym = p.required("symbol").upper()
    if sym not in ctx.service.by_symbol:
        raise errors.invalid_symbol()
    rows = await ctx.service.wallets.orders.all_orders(
        ctx.caller(key_of(request)).account_id,
        sym,
        from_order_id=p.integer("orderId"),
        start_time=p.integer("startTime"),
        end_time=p.integer("endTime"),
        limit=p.integer("limit", default=500, lo=1, hi=1000) or 500,
    )
    return json_response([order_json(o) for o in rows])


@endpoint(weight=20, security=Security.USER_DATA)
async def my_trades(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    p = params_of(request)
    sym = p.required("symbol").upper()
    if sym not in ctx.service.by_symbol:
        raise errors.invalid_symbol()
    rows = await ctx.service.wallets.orders.my_trades(
        ctx.caller(key_of(request)).account_id,
        sym,
        order_id=p.integer("orderId"),
        from_id=p.integer("fromId"),
        start_time=p.integer("startTime"),
        end_time=p.integer("endTime"),
        limit=p.integer("limit", default=500, lo=1, hi=1000) or 500,
    )
    return json_response([trade_json(t) for t in rows])


def account_json(balances: dict[str, Balance], can_trade: bool, account_id: int) -> dict[str, object]:
    t = now_ms()
    return {
        "makerCommission": 10,
        "takerCommission": 10,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": "0.00100000",
            "taker": "0.00100000",
            "buyer": "0.00000000",
            "seller": "0.00000000",
        },
        "canTrade": can_trade,
        "canWithdraw": False,
        "canDeposit": False,
        "brokered": True,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": t,
        "accountType": "SPOT",
        "balances": [{"asset": a, "free": fmt(b.free), "locked": fmt(b.locked)} for a, b in sorted(balances.items())],
        "permissions": ["SPOT"],
        "uid": account_id,
    }


@endpoint(weight=20, security=Security.USER_DATA)
async def account(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    key = key_of(request)
    caller = ctx.caller(key)
    # read from the store: the CLI or another process may have changed them since this one last wrote them
    balances = await ctx.service.wallets.ledger.refresh(caller.account_id)
    if params_of(request).boolean("omitZeroBalances", False):
        balances = {a: b for a, b in balances.items() if b.free or b.locked}
    return json_response(account_json(balances, "trade" in key.permissions, caller.account_id))


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/v3/order", new_order)
    r.add_post("/api/v3/order/test", test_order)
    r.add_get("/api/v3/order", query_order)
    r.add_delete("/api/v3/order", cancel_order)
    r.add_get("/api/v3/openOrders", open_orders)
    r.add_delete("/api/v3/openOrders", cancel_open_orders)
    r.add_get("/api/v3/allOrders", all_orders)
    r.add_get("/api/v3/myTrades", my_trades)
    r.add_get("/api/v3/account", account)
