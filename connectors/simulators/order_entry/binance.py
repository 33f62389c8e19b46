"""A fake Binance spot REST order API: SIGNED endpoints verified with the real HMAC, real answer shapes.

Endpoints (what ccxt's binance and our adapter call): GET /api/v3/ping, /time, /exchangeInfo; POST/GET/DELETE
/api/v3/order; GET /api/v3/openOrders, /api/v3/myTrades, /api/v3/account; capital (wallet) SAPI: GET
/sapi/v1/capital/config/getall, /sapi/v1/capital/deposit/address, /sapi/v1/capital/deposit/hisrec,
/sapi/v1/capital/withdraw/history, POST /sapi/v1/capital/withdraw/apply (``withdrawOrderId`` is the client id).
Errors are Binance's
``{"code":..,"msg":..}`` with its HTTP statuses (venue-protocols.md §1.6-1.8).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from connectors.binance import auth
from connectors.simulators.order_entry.matching import Reject, SimOrder
from connectors.simulators.order_entry.server import FakeVenue

_EIGHT = Decimal("0.00000001")

# Reject kind -> (HTTP status, code, msg), as Binance answers them.
ERRORS: dict[str, tuple[int, int, str]] = {
    "insufficient_funds": (400, -2010, "Account has insufficient balance for requested action."),
    "duplicate": (400, -2010, "Duplicate order sent."),
    "unknown_symbol": (400, -1121, "Invalid symbol."),
    "bad_qty": (400, -1013, "Filter failure: LOT_SIZE"),
    "bad_price": (400, -1013, "Filter failure: PRICE_FILTER"),
    "min_notional": (400, -1013, "Filter failure: NOTIONAL"),
    "not_found": (400, -2013, "Order does not exist."),
    "cancel_unknown": (400, -2011, "Unknown order sent."),
    "bad_signature": (400, -1022, "Signature for this request is not valid."),
    "bad_key_format": (401, -2014, "API-key format invalid."),
    "bad_key": (401, -2015, "Invalid API-key, IP, or permissions for action."),
    "timestamp": (400, -1021, "Timestamp for this request is outside of the recvWindow."),
    "bad_param": (400, -1102, "Mandatory parameter was not sent, was empty/null, or malformed."),
    "bad_tif": (400, -1115, "Invalid timeInForce."),
    "unknown_state": (
        503,
        -1007,
        "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
    ),
    "withdraw_duplicate": (400, -4026, "Duplicate withdrawOrderId."),  # our guess at the code and text
    "withdraw_funds": (400, -4026, "User has insufficient balance"),
    "withdraw_amount": (400, -4022, "Withdrawal amount must be greater than the transaction fee."),
    "rate_limit": (429, -1003, "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute."),
}


def fmt(value: Decimal) -> str:
    """Binance prints 8 decimals; more are kept rather than rounded away."""
    return f"{value:.8f}" if value == value.quantize(_EIGHT) else format(value.normalize(), "f")


def error(kind: str, headers: dict[str, str] | None = None) -> web.Response:
    status, code, msg = ERRORS[kind]
    return web.json_response({"code": code, "msg": msg}, status=status, headers=headers)


class FakeBinance(FakeVenue):
    venue = "binance"
    recv_window_ms = auth.DEFAULT_RECV_WINDOW_MS

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/v3/ping", self._ping)
        r.add_get("/api/v3/time", self._time)
        r.add_get("/api/v3/exchangeInfo", self._exchange_info)
        r.add_post("/api/v3/order", self._signed(self._new_order))
        r.add_get("/api/v3/order", self._signed(self._get_order))
        r.add_delete("/api/v3/order", self._signed(self._cancel_order))
        r.add_get("/api/v3/openOrders", self._signed(self._open_orders))
        r.add_get("/api/v3/myTrades", self._signed(self._my_trades))
        r.add_get("/api/v3/account", self._signed(self._account))
        r.add_get("/sapi/v1/capital/config/getall", self._signed(self._coins))
        r.add_get("/sapi/v1/capital/deposit/address", self._signed(self._deposit_address))
        r.add_get("/sapi/v1/capital/deposit/hisrec", self._signed(self._deposit_history))
        r.add_post("/sapi/v1/capital/withdraw/apply", self._signed(self._withdraw))
        r.add_get("/sapi/v1/capital/withdraw/history", self._signed(self._withdraw_history))

    def unknown_state_response(self) -> web.Response:
        return error("unknown_state")

    def rate_limit_response(self, retry_after_s: int) -> web.Response:
        return error("rate_limit", {"Retry-After": str(retry_after_s)})

    # ----- signing -----
    def _signed(self, handler: Any) -> Any:
        async def wrapped(request: web.Request) -> web.Response:
            raw_query = request.rel_url.raw_query_string
            raw_body = await request.text() if request.can_read_body else ""
            key = request.headers.get(auth.API_KEY_HEADER, "")
            if not key or len(key) > 128:
                self.auth_failures += 1
                return error("bad_key_format")
            secret = self.keys.get(key)
            if secret is None:
                self.auth_failures += 1
                return error("bad_key")
            if not auth.verify(secret, raw_query, raw_body):
                self.auth_failures += 1
                return error("bad_signature")
            # As Binance: a param in both the query string and the body takes the query's value.
            params = dict(parse_qsl(raw_body, keep_blank_values=True))
            params.update(parse_qsl(raw_query, keep_blank_values=True))
            try:
                ts, window = int(params["timestamp"]), int(params.get("recvWindow", self.recv_window_ms))
            except (KeyError, ValueError):
                return error("bad_param")
            if window > auth.MAX_RECV_WINDOW_MS or not auth.timestamp_ok(ts, self.clock_ms(), window):
                return error("timestamp")
            response: web.Response = await handler(params)
            return response

        return wrapped

    # ----- handlers -----
    async def _ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": self.clock_ms()})

    async def _exchange_info(self, request: web.Request) -> web.Response:
        symbols = [
            {
                "symbol": m.symbol,
                "status": "TRADING",
                "baseAsset": m.base,
                "quoteAsset": m.quote,
                "baseAssetPrecision": 8,
                "quotePrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
                "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": False,
                "permissions": ["SPOT"],
                "filters": [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": fmt(m.tick),
                        "maxPrice": "1000000.00000000",
                        "tickSize": fmt(m.tick),
                    },
                    {
                        "filterType": "LOT_SIZE",
                        "minQty": fmt(m.min_qty or m.step),
                        "maxQty": "9000.00000000",
                        "stepSize": fmt(m.step),
                    },
                    {
                        "filterType": "NOTIONAL",
                        "minNotional": fmt(m.min_notional),
                        "applyMinToMarket": True,
                        "maxNotional": "9000000.00000000",
                        "applyMaxToMarket": False,
                        "avgPriceMins": 5,
                    },
                ],
            }
            for m in self.engine.markets.values()
        ]
        return web.json_response(
            {
                "timezone": "UTC",
                "serverTime": self.clock_ms(),
                "rateLimits": [
                    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
                    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                ],
                "exchangeFilters": [],
                "symbols": symbols,
            }
        )

    async def _new_order(self, p: dict[str, str]) -> web.Response:
        if p.get("type") != "LIMIT":
            return error("bad_param")
        tif = p.get("timeInForce", "")
        if tif not in ("GTC", "IOC", "FOK"):
            return error("bad_tif")
        try:
            qty, price = Decimal(p["quantity"]), Decimal(p["price"])
            side = p["side"]
            symbol = p["symbol"]
        except (KeyError, InvalidOperation):
            return error("bad_param")
        if side not in ("BUY", "SELL"):
            return error("bad_param")
        refusal = self.fault_before_accept()
        if refusal is not None:
            return refusal
        client_id = p.get("newClientOrderId") or f"web_{len(self.engine.orders) + 1}"
        try:
            order = self.engine.place(symbol, side, qty, price, tif, client_id)
        except Reject as exc:
            return error(exc.kind)
        replaced = await self.fault_after_accept()
        if replaced is not None:
            return replaced
        body = self._order_json(order)
        body.pop("time"), body.pop("updateTime"), body.pop("isWorking")  # not in the FULL answer
        body["transactTime"] = order.created_ms
        body["fills"] = [
            {
                "price": fmt(f.price),
                "qty": fmt(f.qty),
                "commission": fmt(f.fee),
                "commissionAsset": f.fee_asset,
                "tradeId": f.trade_id,
            }
            for f in order.fills
        ]
        return web.json_response(body)

    def _find(self, p: dict[str, str]) -> SimOrder | None:
        if "orderId" in p:
            order = self.engine.orders.get(int(p["orderId"])) if p["orderId"].isdigit() else None
        else:
            order = self.engine.by_client_id(p.get("origClientOrderId", ""))
        return order if order is not None and order.symbol == p.get("symbol") else None

    async def _get_order(self, p: dict[str, str]) -> web.Response:
        order = self._find(p)
        return error("not_found") if order is None else web.json_response(self._order_json(order))

    async def _cancel_order(self, p: dict[str, str]) -> web.Response:
        order = self._find(p)
        if order is None or not order.is_open:
            return error("cancel_unknown")
        self.engine.cancel(order)
        body = self._order_json(order)
        for key in ("time", "updateTime", "isWorking", "workingTime", "stopPrice", "icebergQty", "origQuoteOrderQty"):
            body.pop(key)
        body["origClientOrderId"] = order.client_id
        body["clientOrderId"] = p.get("newClientOrderId", f"cancel_{order.order_id}")
        body["transactTime"] = order.updated_ms
        return web.json_response(body)

    async def _open_orders(self, p: dict[str, str]) -> web.Response:
        return web.json_response([self._order_json(o) for o in self.engine.open_orders(p.get("symbol"))])

    async def _my_trades(self, p: dict[str, str]) -> web.Response:
        orders = [o for o in self.engine.orders.values() if o.symbol == p.get("symbol")]
        if "orderId" in p:
            orders = [o for o in orders if str(o.order_id) == p["orderId"]]
        trades = [
            {
                "symbol": o.symbol,
                "id": f.trade_id,
                "orderId": o.order_id,
                "orderListId": -1,
                "price": fmt(f.price),
                "qty": fmt(f.qty),
                "quoteQty": fmt(f.price * f.qty),
                "commission": fmt(f.fee),
                "commissionAsset": f.fee_asset,
                "time": f.time_ms,
                "isBuyer": o.side == "BUY",
                "isMaker": False,
                "isBestMatch": True,
            }
            for o in orders
            for f in o.fills
        ]
        return web.json_response(sorted(trades, key=lambda t: t["id"]))

    async def _account(self, p: dict[str, str]) -> web.Response:
        balances = [
            {"asset": a, "free": fmt(self.engine.balance(a)[0]), "locked": fmt(self.engine.balance(a)[1])}
            for a in self.engine.assets()
        ]
        return web.json_response(
            {
                "makerCommission": 10,
                "takerCommission": 10,
                "buyerCommission": 0,
                "sellerCommission": 0,
                "canTrade": True,
                "canWithdraw": True,
                "canDeposit": True,
                "brokered": False,
                "requireSelfTradePrevention": False,
                "preventSor": False,
                "updateTime": self.clock_ms(),
                "accountType": "SPOT",
                "balances": balances,
                "permissions": ["SPOT"],
                "uid": 354937868,
            }
        )

    def _order_json(self, o: SimOrder) -> dict[str, Any]:
        return {
            "symbol": o.symbol,
            "orderId": o.order_id,
            "orderListId": -1,
            "clientOrderId": o.client_id,
            "price": fmt(o.price),
            "origQty": fmt(o.qty),
            "executedQty": fmt(o.filled),
            "cummulativeQuoteQty": fmt(o.quote_filled),
            "status": o.status,
            "timeInForce": o.tif,
            "type": "LIMIT",
            "side": o.side,
            "stopPrice": fmt(Decimal(0)),
            "icebergQty": fmt(Decimal(0)),
            "time": o.created_ms,
            "updateTime": o.updated_ms,
            "isWorking": True,
            "workingTime": o.created_ms,
            "origQuoteOrderQty": fmt(Decimal(0)),
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    # ----- capital (wallet) endpoints -----
    def _networks(self, asset: str) -> list[str]:
        return {"BTC": ["BTC"], "ETH": ["ETH"], "USDT": ["ETH", "BSC"], "BNB": ["BSC"]}.get(asset, ["ETH"])

    async def _coins(self, p: dict[str, str]) -> web.Response:
        coins = []
        for asset in self.engine.assets():
            free, locked = self.engine.balance(asset)
            networks = [
                {
                    "network": n,
                    "coin": asset,
                    "name": n,
                    "isDefault": i == 0,
                    "depositEnable": True,
                    "withdrawEnable": True,
                    "withdrawFee": fmt(self.wallet.fee(asset)),
                    "withdrawMin": "0.00000001",
                    "withdrawMax": "9999999999.99999999",
                    "withdrawIntegerMultiple": "0.00000001",
                    "minConfirm": 1,
                    "unLockConfirm": 2,
                    "addressRegex": "",
                    "memoRegex": "",
                    "depositDesc": "",
                    "withdrawDesc": "",
                    "specialTips": "",
                    "busy": False,
                    "sameAddress": False,
                }
                for i, n in enumerate(self._networks(asset))
            ]
            coins.append(
                {
                    "coin": asset,
                    "name": asset,
                    "free": fmt(free),
                    "locked": fmt(locked),
                    "freeze": "0",
                    "withdrawing": "0",
                    "ipoing": "0",
                    "ipoable": "0",
                    "storage": "0",
                    "isLegalMoney": False,
                    "trading": True,
                    "depositAllEnable": True,
                    "withdrawAllEnable": True,
                    "networkList": networks,
                }
            )
        return web.json_response(coins)

    async def _deposit_address(self, p: dict[str, str]) -> web.Response:
        coin = p.get("coin", "")
        if not coin:
            return error("bad_param")
        network = p.get("network") or self._networks(coin)[0]
        address = self.wallet.deposit_address(coin, network)
        return web.json_response(
            {"address": address, "coin": coin, "tag": "", "url": f"https://explorer.invalid/address/{address}"}
        )

    async def _withdraw(self, p: dict[str, str]) -> web.Response:
        try:
            coin, address, amount = p["coin"], p["address"], Decimal(p["amount"])
        except (KeyError, InvalidOperation):
            return error("bad_param")
        network = p.get("network") or self._networks(coin)[0]
        try:
            w = self.wallet.withdraw(coin, network, address, amount, p.get("withdrawOrderId", ""))
        except Reject as exc:
            kind = {"duplicate": "withdraw_duplicate", "insufficient_funds": "withdraw_funds"}.get(
                exc.kind, "withdraw_amount"
            )
            return error(kind)
        return web.json_response({"id": self._withdraw_id(w.withdrawal_id)})

    @staticmethod
    def _withdraw_id(n: int) -> str:
        return f"{n:032x}"  # Binance's ids are 32 hex digits

    def _window(self, p: dict[str, str], created_ms: int) -> bool:
        start, end = int(p.get("startTime", 0)), int(p.get("endTime", 2**63))
        return start <= created_ms <= end

    async def _withdraw_history(self, p: dict[str, str]) -> web.Response:
        rows = [
            {
                "id": self._withdraw_id(w.withdrawal_id),
                "amount": fmt(w.amount - w.fee),
                "transactionFee": fmt(w.fee),
                "coin": w.asset,
                "status": 6 if w.status == "completed" else 4,
                "address": w.address,
                "txId": w.tx_id,
                "applyTime": _utc(w.created_ms),
                "network": w.network,
                "transferType": 0,
                **({"withdrawOrderId": w.client_id} if w.client_id else {}),
                "info": "",
                "confirmNo": 3,
                "walletType": 0,
                "txKey": "",
                "completeTime": _utc(w.created_ms),
            }
            for w in reversed(self.wallet.withdrawals)  # newest first
            if p.get("coin", w.asset) == w.asset
            and p.get("withdrawOrderId", w.client_id) == w.client_id
            and self._window(p, w.created_ms)
        ]
        return web.json_response(rows)

    async def _deposit_history(self, p: dict[str, str]) -> web.Response:
        rows = [
            {
                "id": str(d.deposit_id),
                "amount": fmt(d.amount),
                "coin": d.asset,
                "network": d.network,
                "status": 1,
                "address": d.address,
                "addressTag": "",
                "txId": d.tx_id,
                "insertTime": d.created_ms,
                "transferType": 0,
                "confirmTimes": "12/12",
                "unlockConfirm": 12,
                "walletType": 0,
            }
            for d in reversed(self.wallet.deposits)
            if p.get("coin", d.asset) == d.asset and self._window(p, d.created_ms)
        ]
        return web.json_response(rows)


def _utc(ms: int) -> str:
    """Binance's applyTime: 'YYYY-MM-DD HH:MM:SS' in UTC."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
