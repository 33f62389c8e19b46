"""A fake Kraken spot REST order API: API-Sign verified with the real HMAC-SHA512, real answer shapes.

Private endpoints (POST, form body with ``nonce``): AddOrder, QueryOrders, OpenOrders, ClosedOrders, CancelOrder,
QueryTrades, Balance, BalanceEx; funding: DepositMethods, DepositAddresses, DepositStatus, Withdraw (to a
withdrawal key the account holder set up beforehand: ``wallet.withdraw_keys``), WithdrawStatus; public: Time,
AssetPairs, Assets. Every answer is HTTP 200 with
``{"error": [...], "result": ...}``; errors are Kraken's strings (venue-protocols.md §2.5).
"""

from __future__ import annotations

import hashlib
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from connectors.kraken import auth
from connectors.simulators.order_entry.matching import Reject, SimMarket, SimOrder
from connectors.simulators.order_entry.server import FakeVenue

ERRORS: dict[str, str] = {
    "insufficient_funds": "EOrder:Insufficient funds",
    "duplicate": "EOrder:Duplicate order",  # our guess at the text: Kraken documents the rule, not the string
    "unknown_symbol": "EQuery:Unknown asset pair",
    "bad_qty": "EGeneral:Invalid arguments:volume",
    "bad_price": "EOrder:Invalid price:price can only be specified up to the pair's decimals",
    "min_notional": "EOrder:Order minimum not met",
    "not_found": "EOrder:Unknown order",
    "not_open": "EOrder:Unknown order",
    "bad_signature": "EAPI:Invalid signature",
    "bad_key": "EAPI:Invalid key",
    "bad_nonce": "EAPI:Invalid nonce",
    "bad_arguments": "EGeneral:Invalid arguments",
    "unknown_state": "EService:Deadline elapsed",
    "rate_limit": "EOrder:Rate limit exceeded",
    "unknown_method": "EFunding:Unknown method",
    "unknown_key": "EFunding:Unknown withdraw key",
    "withdraw_funds": "EFunding:Insufficient funds",
    "withdraw_amount": "EFunding:Invalid amount",
}
# Funding method name -> network, per asset (Kraken names a deposit/withdrawal route by its method).
METHODS: dict[str, dict[str, str]] = {
    "XXBT": {"Bitcoin": "BTC"},
    "XETH": {"Ether (Hex)": "ETH"},
    "USDT": {"Tether USD (ERC20)": "ETH"},
}
STATUS = {"NEW": "open", "PARTIALLY_FILLED": "open", "FILLED": "closed", "CANCELED": "canceled", "EXPIRED": "canceled"}
TIME_IN_FORCE = ("GTC", "IOC", "GTD")  # no FOK on Kraken


def _decimals(step: Decimal) -> int:
    exp = step.normalize().as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def num(value: Decimal, places: int) -> str:
    """Kraken's fixed decimals, unless that would drop digits."""
    fixed = f"{value:.{places}f}"
    return fixed if Decimal(fixed) == value else format(value.normalize(), "f")


def kraken_id(prefix: str, n: int) -> str:
    """Kraken-style ids (``OU22CG-KLAF2-FWUDD7``), stable per number."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    digest = hashlib.sha256(f"{prefix}{n}".encode()).digest()
    chars = "".join(alphabet[b % 32] for b in digest[:15])
    return f"{prefix}{chars[:5]}-{chars[5:10]}-{chars[10:16]}"


def ok(result: Any) -> web.Response:
    return web.json_response({"error": [], "result": result})


def error(kind: str) -> web.Response:
    return web.json_response({"error": [ERRORS[kind]]})


class FakeKraken(FakeVenue):
    venue = "kraken"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._nonces: dict[str, int] = {}  # api key -> last accepted nonce
        self._txids: dict[str, int] = {}  # txid -> engine order id
        self._trade_ids: dict[str, tuple[int, int]] = {}  # trade txid -> (order id, fill index)

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/0/public/Time", self._time)
        r.add_get("/0/public/AssetPairs", self._asset_pairs)
        r.add_get("/0/public/Assets", self._assets)
        for name, handler in (
            ("AddOrder", self._add_order),
            ("QueryOrders", self._query_orders),
            ("OpenOrders", self._open_orders),
            ("ClosedOrders", self._closed_orders),
            ("CancelOrder", self._cancel_order),
            ("QueryTrades", self._query_trades),
            ("Balance", self._balance),
            ("BalanceEx", self._balance_ex),
            ("DepositMethods", self._deposit_methods),
            ("DepositAddresses", self._deposit_addresses),
            ("DepositStatus", self._deposit_status),
            ("Withdraw", self._withdraw),
            ("WithdrawStatus", self._withdraw_status),
        ):
            r.add_post(f"/0/private/{name}", self._signed(handler))

    def unknown_state_response(self) -> web.Response:
        return error("unknown_state")

    def rate_limit_response(self, retry_after_s: int) -> web.Response:
        return error("rate_limit")

    # ----- signing -----
    def _signed(self, handler: Any) -> Any:
        async def wrapped(request: web.Request) -> web.Response:
            body = await request.text()
            params = dict(parse_qsl(body, keep_blank_values=True))
            key = request.headers.get(auth.KEY_HEADER, "")
            secret = self.keys.get(key)
            if secret is None:
                self.auth_failures += 1
                return error("bad_key")
            nonce = params.get("nonce", "")
            sign = request.headers.get(auth.SIGN_HEADER, "")
            if not nonce.isdigit() or not auth.verify(secret, request.path, nonce, body, sign):
                self.auth_failures += 1
                return error("bad_signature")
            if int(nonce) <= self._nonces.get(key, 0):
                return error("bad_nonce")
            self._nonces[key] = int(nonce)
            response: web.Response = await handler(params)
            return response

        return wrapped

    # ----- helpers -----
    def _market(self, pair: str) -> SimMarket | None:
        for m in self.engine.markets.values():
            if pair in (m.symbol, self._wsname(m)):
                return m
        return None

    @staticmethod
    def _wsname(m: SimMarket) -> str:
        strip = {"XXBT": "XBT", "XETH": "ETH", "ZUSD": "USD", "ZEUR": "EUR"}
        return f"{strip.get(m.base, m.base)}/{strip.get(m.quote, m.quote)}"

    def _txid(self, order: SimOrder) -> str:
        txid = kraken_id("O", order.order_id)
        self._txids[txid] = order.order_id
        return txid

    def _order_json(self, o: SimOrder) -> dict[str, Any]:
        m = self.engine.markets[o.symbol]
        pd, ld = _decimals(m.tick), _decimals(m.step)
        side = "buy" if o.side == "BUY" else "sell"
        trades = []
        for i, _ in enumerate(o.fills):
            tid = kraken_id("T", o.order_id * 1000 + i)
            self._trade_ids[tid] = (o.order_id, i)
            trades.append(tid)
        avg = o.quote_filled / o.filled if o.filled else Decimal(0)
        body: dict[str, Any] = {
            "refid": None,
            "userref": 0,
            "cl_ord_id": o.client_id,
            "status": STATUS[o.status],
            "reason": "User requested" if o.status == "CANCELED" else None,
            "opentm": o.created_ms / 1000,
            "starttm": 0,
            "expiretm": 0,
            "descr": {
                "pair": m.symbol,
                "type": side,
                "ordertype": "limit",
                "price": num(o.price, pd),
                "price2": "0",
                "leverage": "none",
                "order": f"{side} {num(o.qty, ld)} {m.symbol} @ limit {num(o.price, pd)}",
                "close": "",
            },
            "vol": num(o.qty, ld),
            "vol_exec": num(o.filled, ld),
            "cost": num(o.quote_filled, pd),
            "fee": num(o.fees, pd),
            "price": num(avg, pd),
            "stopprice": "0.00000",
            "limitprice": "0.00000",
            "misc": "",
            "oflags": "fciq",
            "timeinforce": o.tif,
            "trades": trades,
        }
        if not o.is_open:
            body["closetm"] = o.updated_ms / 1000
        return body

    def _find_client(self, cl_ord_id: str) -> SimOrder | None:
        return self.engine.by_client_id(cl_ord_id) if cl_ord_id else None

    # ----- handlers -----
    async def _time(self, request: web.Request) -> web.Response:
        return ok({"unixtime": self.clock_ms() // 1000, "rfc1123": ""})

    async def _asset_pairs(self, request: web.Request) -> web.Response:
        return ok(
            {
                m.symbol: {
                    "altname": m.symbol,
                    "wsname": self._wsname(m),
                    "aclass_base": "currency",
                    "base": m.base,
                    "aclass_quote": "currency",
                    "quote": m.quote,
                    "pair_decimals": _decimals(m.tick),
                    "cost_decimals": 5,
                    "lot_decimals": _decimals(m.step),
                    "lot_multiplier": 1,
                    "tick_size": format(m.tick, "f"),
                    "ordermin": format(m.min_qty, "f"),
                    "costmin": format(m.min_notional, "f"),
                    "status": "online",
                }
                for m in self.engine.markets.values()
            }
        )

    async def _assets(self, request: web.Request) -> web.Response:
        codes = sorted({m.base for m in self.engine.markets.values()} | {m.quote for m in self.engine.markets.values()})
        strip = {"XXBT": "XBT", "XETH": "ETH", "ZUSD": "USD", "ZEUR": "EUR"}
        return ok(
            {
                c: {
                    "aclass": "currency",
                    "altname": strip.get(c, c),
                    "decimals": 10,
                    "display_decimals": 5,
                    "collateral_value": 1,
                    "status": "enabled",
                }
                for c in codes
            }
        )

    async def _add_order(self, p: dict[str, str]) -> web.Response:
        market = self._market(p.get("pair", ""))
        if market is None:
            return error("unknown_symbol")
        tif = p.get("timeinforce", "GTC")
        if p.get("ordertype") != "limit" or p.get("type") not in ("buy", "sell") or tif not in TIME_IN_FORCE:
            return error("bad_arguments")
        cl_ord_id = p.get("cl_ord_id", "")
        if cl_ord_id and "userref" in p:
            return error("bad_arguments")  # cl_ord_id cannot be combined with userref
        try:
            qty, price = Decimal(p["volume"]), Decimal(p["price"])
        except (KeyError, InvalidOperation):
            return error("bad_arguments")
        refusal = self.fault_before_accept()
        if refusal is not None:
            return refusal
        side = "BUY" if p["type"] == "buy" else "SELL"
        try:
            order = self.engine.place(market.symbol, side, qty, price, tif, cl_ord_id or f"kr{len(self.engine.orders)}")
        except Reject as exc:
            return error(exc.kind)
        replaced = await self.fault_after_accept()
        if replaced is not None:
            return replaced
        descr = self._order_json(order)["descr"]["order"]
        return ok({"descr": {"order": descr}, "txid": [self._txid(order)]})

    async def _query_orders(self, p: dict[str, str]) -> web.Response:
        out: dict[str, Any] = {}
        for txid in filter(None, p.get("txid", "").split(",")):
            order = self.engine.orders.get(self._txids.get(txid, -1))
            if order is None:
                return web.json_response({"error": ["EOrder:Invalid order"]})
            out[txid] = self._order_json(order)
        return ok(out)

    def _listing(self, p: dict[str, str], want_open: bool) -> dict[str, Any]:
        orders = [o for o in self.engine.orders.values() if o.is_open == want_open]
        if p.get("cl_ord_id"):
            orders = [o for o in orders if o.client_id == p["cl_ord_id"]]
        return {self._txid(o): self._order_json(o) for o in reversed(orders)}  # newest first

    async def _open_orders(self, p: dict[str, str]) -> web.Response:
        return ok({"open": self._listing(p, True)})

    async def _closed_orders(self, p: dict[str, str]) -> web.Response:
        closed = self._listing(p, False)
        return ok({"closed": closed, "count": len(closed)})

    async def _cancel_order(self, p: dict[str, str]) -> web.Response:
        ref = p.get("cl_ord_id") or p.get("txid", "")
        order = self.engine.orders.get(self._txids.get(ref, -1)) or self._find_client(ref)
        if order is None or not order.is_open:
            return error("not_found")
        self.engine.cancel(order)
        return ok({"count": 1})

    async def _query_trades(self, p: dict[str, str]) -> web.Response:
        out: dict[str, Any] = {}
        for tid in filter(None, p.get("txid", "").split(",")):
            if tid not in self._trade_ids:
                return web.json_response({"error": ["EQuery:Invalid query"]})
            order_id, index = self._trade_ids[tid]
            o = self.engine.orders[order_id]
            f = o.fills[index]
            m = self.engine.markets[o.symbol]
            pd, ld = _decimals(m.tick), _decimals(m.step)
            out[tid] = {
                "ordertxid": kraken_id("O", o.order_id),
                "postxid": kraken_id("P", f.trade_id),
                "pair": m.symbol,
                "time": f.time_ms / 1000,
                "type": "buy" if o.side == "BUY" else "sell",
                "ordertype": "limit",
                "price": num(f.price, pd),
                "cost": num(f.price * f.qty, pd),
                "fee": num(f.fee, pd),
                "vol": num(f.qty, ld),
                "margin": "0.00000",
                "misc": "",
                "trade_id": f.trade_id,
                "maker": False,
            }
        return ok(out)

    async def _balance(self, p: dict[str, str]) -> web.Response:
        return ok({a: num(sum(self.engine.balance(a), Decimal(0)), 10) for a in self.engine.assets()})

    async def _balance_ex(self, p: dict[str, str]) -> web.Response:
        return ok(
            {
                a: {
                    "balance": num(sum(self.engine.balance(a), Decimal(0)), 10),
                    "hold_trade": num(self.engine.balance(a)[1], 10),
                }
                for a in self.engine.assets()
            }
        )

    # ----- funding -----
    def _methods(self, asset: str) -> dict[str, str]:
        return METHODS.get(asset, {f"{asset} (ERC20)": "ETH"})

    async def _deposit_methods(self, p: dict[str, str]) -> web.Response:
        return ok(
            [
                {"method": m, "limit": False, "fee": "0.0000000000", "gen-address": True, "minimum": "0.0001"}
                for m in self._methods(p.get("asset", ""))
            ]
        )

    async def _deposit_addresses(self, p: dict[str, str]) -> web.Response:
        network = self._methods(p.get("asset", "")).get(p.get("method", ""))
        if network is None:
            return error("unknown_method")
        return ok([{"address": self.wallet.deposit_address(p["asset"], network), "expiretm": "0", "new": False}])

    async def _withdraw(self, p: dict[str, str]) -> web.Response:
        asset, key = p.get("asset", ""), p.get("key", "")
        address = self.wallet.withdraw_keys.get(key)
        if address is None or ("address" in p and p["address"] != address):
            return error("unknown_key")
        try:
            amount = Decimal(p["amount"])
        except (KeyError, InvalidOperation):
            return error("bad_arguments")
        network = next(iter(self._methods(asset).values()))
        try:
            w = self.wallet.withdraw(asset, network, address, amount)
        except Reject as exc:
            return error("withdraw_funds" if exc.kind == "insufficient_funds" else "withdraw_amount")
        return ok({"refid": kraken_id("F", w.withdrawal_id)})

    def _funding_row(
        self,
        asset: str,
        network: str,
        refid: str,
        tx_id: str,
        address: str,
        amount: Decimal,
        fee: Decimal,
        created_ms: int,
        status: str,
    ) -> dict[str, Any]:
        """One WithdrawStatus / DepositStatus entry (``amount`` is what arrives, net of ``fee``)."""
        method = next((m for m, n in self._methods(asset).items() if n == network), network)
        return {
            "method": method,
            "aclass": "currency",
            "asset": asset,
            "refid": refid,
            "txid": tx_id,
            "info": address,
            "amount": num(amount, 10),
            "fee": num(fee, 10),
            "time": created_ms // 1000,
            "status": status,
        }

    async def _withdraw_status(self, p: dict[str, str]) -> web.Response:
        return ok(
            [
                self._funding_row(
                    w.asset,
                    w.network,
                    kraken_id("F", w.withdrawal_id),
                    w.tx_id,
                    w.address,
                    w.amount - w.fee,
                    w.fee,
                    w.created_ms,
                    "Success" if w.status == "completed" else "Pending",
                )
                for w in reversed(self.wallet.withdrawals)
                if p.get("asset", w.asset) == w.asset
            ]
        )

    async def _deposit_status(self, p: dict[str, str]) -> web.Response:
        return ok(
            [
                self._funding_row(
                    d.asset,
                    d.network,
                    kraken_id("D", d.deposit_id),
                    d.tx_id,
                    d.address,
                    d.amount,
                    Decimal(0),
                    d.created_ms,
                    "Success",
                )
                for d in reversed(self.wallet.deposits)
                if p.get("asset", d.asset) == d.asset
            ]
        )
