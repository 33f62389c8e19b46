"""A fake HTX (Huobi) spot REST order API: Signature V2 verified with the real HMAC, real answer shapes.

Endpoints: GET /v1/common/symbols, /v1/account/accounts, /v1/account/accounts/{id}/balance,
/v1/order/orders/getClientOrder, /v1/order/orders/{id}, /v1/order/orders/{id}/matchresults, /v1/order/openOrders;
POST /v1/order/orders/place, /v1/order/orders/submitCancelClientOrder, /v1/order/orders/{id}/submitcancel;
wallet: GET /v2/account/deposit/address, /v1/query/deposit-withdraw, /v1/query/withdraw/client-order-id,
POST /v1/dw/withdraw/api/create (``client-order-id`` is the client withdrawal id).
Answers are ``{"status":"ok","data":...}`` or ``{"status":"error","err-code":..,"err-msg":..,"data":null}``
(venue-protocols.md §3.4-3.5). Time in force is in the order ``type`` (buy-ioc, sell-limit-fok, buy-limit ...).
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from connectors.htx import auth
from connectors.simulators.order_entry.capital import SimWithdrawal
from connectors.simulators.order_entry.matching import Reject, SimOrder
from connectors.simulators.order_entry.server import FakeVenue

# Reject kind -> (err-code, err-msg).
ERRORS: dict[str, tuple[str, str]] = {
    "insufficient_funds": ("account-frozen-balance-insufficient-error", "trade account balance is not enough"),
    "duplicate": ("invalid-client-order-id", "client-order-id is duplicated"),  # our guess at the code
    "unknown_symbol": ("base-symbol-error", "The symbol is invalid"),
    "bad_qty": ("order-orderamount-precision-error", "order amount precision error"),
    "bad_price": ("order-orderprice-precision-error", "order price precision error"),
    "min_notional": ("order-value-min-error", "Order total cannot be lower than the minimum"),
    "not_found": ("base-record-invalid", "record invalid"),
    "bad_key": ("api-signature-not-valid", "Signature not valid: Incorrect Access key [Access key错误]"),
    "bad_signature": ("api-signature-not-valid", "Signature not valid: Verification failure [校验失败]"),
    "timestamp": ("api-signature-not-valid", "Signature not valid: Timestamp expired"),
    "bad_param": ("invalid-parameter", "invalid parameter"),
    "bad_account": ("account-get-accounts-inexistent-error", "The account does not exist"),
    "unknown_state": ("gateway-internal-error", "Failed to load data. Try again later."),
    "withdraw_funds": ("dw-insufficient-balance", "Insufficient balance. You can only transfer {0} at most."),
    "withdraw_amount": ("dw-withdraw-min-limit", "The withdrawal amount is below the minimum"),
    "withdraw_duplicate": ("dw-withdraw-client-order-id-duplicated", "client-order-id is duplicated"),  # our guess
    "rate_limit": (
        "base-request-exceed-frequency-limit",
        "Frequency of requests has exceeded the limit, please try again later",
    ),
}
TYPES: dict[str, tuple[str, str]] = {  # order type -> (side, tif)
    "buy-limit": ("BUY", "GTC"),
    "sell-limit": ("SELL", "GTC"),
    "buy-ioc": ("BUY", "IOC"),
    "sell-ioc": ("SELL", "IOC"),
    "buy-limit-fok": ("BUY", "FOK"),
    "sell-limit-fok": ("SELL", "FOK"),
}
CANCEL_CODES = {"PARTIALLY_FILLED": 5, "FILLED": 6, "CANCELED": 7, "EXPIRED": 7}


def num(value: Decimal) -> str:
    """HTX prints 18 decimals in order answers."""
    fixed = f"{value:.18f}"
    return fixed if Decimal(fixed) == value else format(value.normalize(), "f")


def ok(data: Any) -> web.Response:
    return web.json_response({"status": "ok", "data": data})


def error(kind: str, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    code, msg = ERRORS[kind]
    return web.json_response(
        {"status": "error", "err-code": code, "err-msg": msg, "data": None}, status=status, headers=headers
    )


def state(o: SimOrder) -> str:
    if o.status in ("CANCELED", "EXPIRED"):
        return "partial-canceled" if o.fills else "canceled"
    return {"NEW": "submitted", "PARTIALLY_FILLED": "partial-filled", "FILLED": "filled"}[o.status]


class FakeHtx(FakeVenue):
    venue = "htx"
    account_id = 100009

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/v1/common/symbols", self._symbols)
        r.add_get("/v2/reference/currencies", self._currencies)
        r.add_get("/v1/account/accounts", self._signed(self._accounts))
        r.add_get("/v1/account/accounts/{account}/balance", self._signed(self._balance))
        r.add_post("/v1/order/orders/place", self._signed(self._place))
        r.add_get("/v1/order/orders/getClientOrder", self._signed(self._get_client_order))
        r.add_post("/v1/order/orders/submitCancelClientOrder", self._signed(self._cancel_client))
        r.add_get("/v1/order/openOrders", self._signed(self._open_orders))
        r.add_get("/v1/order/orders/{order_id}", self._signed(self._get_order))
        r.add_get("/v1/order/orders/{order_id}/matchresults", self._signed(self._match_results))
        r.add_post("/v1/order/orders/{order_id}/submitcancel", self._signed(self._cancel_id))
        r.add_get("/v2/account/deposit/address", self._signed(self._deposit_address))
        r.add_post("/v1/dw/withdraw/api/create", self._signed(self._withdraw))
        r.add_get("/v1/query/deposit-withdraw", self._signed(self._deposit_withdraw))
        r.add_get("/v1/query/withdraw/client-order-id", self._signed(self._withdraw_by_client_id))

    def unknown_state_response(self) -> web.Response:
        return error("unknown_state")

    def rate_limit_response(self, retry_after_s: int) -> web.Response:
        return error("rate_limit", 429, {"Retry-After": str(retry_after_s)})

    # ----- signing -----
    def _signed(self, handler: Any) -> Any:
        async def wrapped(request: web.Request) -> web.Response:
            params = dict(request.query)
            secret = self.keys.get(params.get("AccessKeyId", ""))
            if secret is None:
                self.auth_failures += 1
                return error("bad_key")
            signed_ok = (
                params.get("SignatureMethod") == auth.SIGNATURE_METHOD
                and params.get("SignatureVersion") == auth.SIGNATURE_VERSION
                and auth.verify(secret, request.method, request.host, request.path, params)
            )
            if not signed_ok:
                self.auth_failures += 1
                return error("bad_signature")
            try:
                skew_ms = abs(self.clock_ms() - auth.parse_timestamp(params.get("Timestamp", "")))
            except ValueError:
                return error("timestamp")
            if skew_ms > auth.MAX_SKEW_S * 1000:
                return error("timestamp")
            body: dict[str, Any] = {}
            if request.method == "POST" and request.can_read_body:
                try:
                    body = json.loads(await request.text() or "{}")
                except ValueError:
                    return error("bad_param")
            response: web.Response = await handler(request, params, body)
            return response

        return wrapped

    # ----- handlers -----
    async def _symbols(self, request: web.Request) -> web.Response:
        return ok(
            [
                {
                    "base-currency": m.base,
                    "quote-currency": m.quote,
                    "price-precision": _places(m.tick),
                    "amount-precision": _places(m.step),
                    "symbol-partition": "main",
                    "symbol": m.symbol,
                    "state": "online",
                    "value-precision": 8,
                    "min-order-amt": format(m.min_qty, "f"),
                    "max-order-amt": "1000",
                    "min-order-value": format(m.min_notional, "f"),
                    "api-trading": "enabled",
                }
                for m in self.engine.markets.values()
            ]
        )

    async def _currencies(self, request: web.Request) -> web.Response:
        # ccxt's load_markets reads it; the chain details only matter for deposits and withdrawals.
        assets = sorted(
            {m.base for m in self.engine.markets.values()} | {m.quote for m in self.engine.markets.values()}
        )
        return web.json_response(
            {
                "code": 200,
                "data": [
                    {
                        "currency": a,
                        "assetType": 1,
                        "instStatus": "normal",
                        "chains": [
                            {
                                "chain": c,
                                "displayName": c.upper(),
                                "baseChain": c.upper(),
                                "baseChainProtocol": "",
                                "isDynamic": False,
                                "numOfConfirmations": 1,
                                "numOfFastConfirmations": 1,
                                "depositStatus": "allowed",
                                "minDepositAmt": "0.0001",
                                "withdrawStatus": "allowed",
                                "minWithdrawAmt": "0.0001",
                                "withdrawPrecision": 8,
                                "maxWithdrawAmt": "1000000",
                                "withdrawQuotaPerDay": "1000000",
                                "withdrawFeeType": "fixed",
                                "transactFeeWithdraw": num(self.wallet.fee(a)),
                                "instStatus": "normal",
                            }
                            for c in _chains(a)
                        ],
                    }
                    for a in assets
                ],
            }
        )

    async def _accounts(self, request: web.Request, q: dict[str, str], body: dict[str, Any]) -> web.Response:
        return ok([{"id": self.account_id, "type": "spot", "subtype": "", "state": "working"}])

    async def _balance(self, request: web.Request, q: dict[str, str], body: dict[str, Any]) -> web.Response:
        if request.match_info["account"] != str(self.account_id):
            return error("bad_account")
        rows = []
        for asset in self.engine.assets():
            free, locked = self.engine.balance(asset)
            rows += [
                {"currency": asset, "type": "trade", "balance": num(free)},
                {"currency": asset, "type": "frozen", "balance": num(locked)},
            ]
        return ok({"id": self.account_id, "type": "spot", "state": "working", "list": rows})

    async def _place(self, request: web.Request, q: dict[str, str], b: dict[str, Any]) -> web.Response:
        if str(b.get("account-id")) != str(self.account_id):
            return error("bad_account")
        if b.get("type") not in TYPES:
            return error("bad_param")
        side, tif = TYPES[b["type"]]
        try:
            qty, price = Decimal(str(b["amount"])), Decimal(str(b["price"]))
        except (KeyError, InvalidOperation):
            return error("bad_param")
        client_id = str(b.get("client-order-id") or "")
        if len(client_id) > 64:
            return error("bad_param")
        refusal = self.fault_before_accept()
        if refusal is not None:
            return refusal
        try:
            order = self.engine.place(
                str(b.get("symbol")), side, qty, price, tif, client_id or f"h{len(self.engine.orders)}"
            )
        except Reject as exc:
            return error(exc.kind)
        replaced = await self.fault_after_accept()
        return replaced if replaced is not None else ok(str(order.order_id))

    def _order_json(self, o: SimOrder, open_listing: bool = False) -> dict[str, Any]:
        side, tif = o.side.lower(), {"GTC": "limit", "IOC": "ioc", "FOK": "limit-fok"}[o.tif]
        prefix = "filled" if open_listing else "field"  # HTX's detail answer spells them field-*
        body = {
            "id": o.order_id,
            "symbol": o.symbol,
            "account-id": self.account_id,
            "client-order-id": o.client_id,
            "amount": num(o.qty),
            "price": num(o.price),
            "created-at": o.created_ms,
            "type": f"{side}-{tif}",
            f"{prefix}-amount": num(o.filled),
            f"{prefix}-cash-amount": num(o.quote_filled),
            f"{prefix}-fees": num(o.fees),
            "source": "spot-api",
            "state": state(o),
        }
        if not open_listing:
            body.update(
                {
                    "finished-at": 0 if o.is_open else o.updated_ms,
                    "canceled-at": o.updated_ms if o.status in ("CANCELED", "EXPIRED") else 0,
                }
            )
        return body

    def _by_id(self, raw: str) -> SimOrder | None:
        return self.engine.orders.get(int(raw)) if raw.isdigit() else None

    async def _get_client_order(self, request: web.Request, q: dict[str, str], b: dict[str, Any]) -> web.Response:
        order = self.engine.by_client_id(q.get("clientOrderId", ""))
        return error("not_found") if order is None else ok(self._order_json(order))

    async def _get_order(self, request: web.Request, q: dict[str, str], b: dict[str, Any]) -> web.Response:
        order = self._by_id(request.match_info["order_id"])
        return error("not_found") if order is None else ok(self._order_json(order))

    async def _match_results(self, request: web.Request, q: dict[str, str], b: dict[str, Any]) -> web.Response:
        o = self._by_id(request.match_info["order_id"])
        if o is None:
            return error("not_found")
        return ok(
            [
                {
                    "created-at": f.time_ms,
                    "filled-amount": num(f.qty),
                    "filled-fees": num(f.fee),
                    "fee-currency": f.fee_asset,
                    "id": f.trade_id * 10,
                    "order-id": o.order_id,
                    "match-id": f.trade_id * 100,
                    "trade-id": f.trade_id,
                    "price": num(f.price),
                    "source": "spot-api",
                    "symbol": o.symbol,
                    "type": self._order_json(o)["type"],
                    "role": "taker",
                    "filled-points": "0.0",
                    "fee-deduct-currency": "",
                    "fee-deduct-state": "done",
                }
                for f in reversed(o.fills)  # newest first, as HTX lists them
            ]
        )

    def _cancel(self, order: SimOrder | None) -> web.Response:
        if order is None:
            return ok(-1)  # -1: no such order
        if not order.is_open:
            return ok(CANCEL_CODES[order.status])
        self.engine.cancel(order)
        return ok(7)

    async def _cancel_client(self, request: web.Request, q: dict[str, str], b: dict[str, Any]) -> web.Response:
        return self._cancel(self.engine.by_client_id(str(b.get("client-order-id", ""))))

    async def _cancel_id(self, request: web.Request, q: dict[str, str], b: dict[str, Any]) -> web.Response:
        order = self._by_id(request.match_info["order_id"])
        if order is None:
            return error("not_found")
        return self._cancel(order) if order.is_open else error("not_found")

    async def _open_orders(self, request: web.Request, q: dict[str, str], b: dict[str, Any]) -> web.Response:
        if q.get("account-id", str(self.account_id)) != str(self.account_id):
            return error("bad_account")
        orders = self.engine.open_orders(q.get("symbol"))
        return ok([self._order_json(o, open_listing=True) for o in reversed(orders)])

    # ----- wallet -----
    async def _deposit_address(self, request: web.Request, q: dict[str, str], b: dict[str, Any]) -> web.Response:
        currency = q.get("currency", "")
        if not currency:
            return error("bad_param")
        return web.json_response(
            {
                "code": 200,
                "data": [
                    {
                        "userId": 12345678,
                        "currency": currency,
                        "address": self.wallet.deposit_address(currency, _network(c)),
                        "addressTag": "",
                        "chain": c,
                    }
                    for c in _chains(currency)
                ],
            }
        )

    async def _withdraw(self, request: web.Request, q: dict[str, str], b: dict[str, Any]) -> web.Response:
        try:
            currency, address, amount = str(b["currency"]), str(b["address"]), Decimal(str(b["amount"]))
        except (KeyError, InvalidOperation):
            return error("bad_param")
        chain = str(b.get("chain") or _chains(currency)[0])
        try:
            w = self.wallet.withdraw(currency, _network(chain), address, amount, str(b.get("client-order-id") or ""))
        except Reject as exc:
            return error(
                {"duplicate": "withdraw_duplicate", "insufficient_funds": "withdraw_funds"}.get(
                    exc.kind, "withdraw_amount"
                )
            )
        return ok(w.withdrawal_id)

    def _withdrawal_json(self, w: SimWithdrawal) -> dict[str, Any]:
        return {
            "id": w.withdrawal_id,
            "client-order-id": w.client_id,
            "type": "withdraw",
            "sub-type": "NORMAL",
            "currency": w.asset,
            "chain": _chains(w.asset)[0] if w.network != "BSC" else f"bep20{w.asset}",
            "tx-hash": w.tx_id,
            "amount": amount_text(w.amount - w.fee),
            "from-addr-tag": "",
            "address": w.address,
            "address-tag": "",
            "fee": amount_text(w.fee),
            "state": "confirmed" if w.status == "completed" else "submitted",
            "created-at": w.created_ms,
            "updated-at": w.created_ms,
        }

    async def _deposit_withdraw(self, request: web.Request, q: dict[str, str], b: dict[str, Any]) -> web.Response:
        kind = q.get("type")
        if kind == "withdraw":
            rows = [
                self._withdrawal_json(w)
                for w in reversed(self.wallet.withdrawals)
                if q.get("currency", w.asset) == w.asset
            ]
        elif kind == "deposit":
            rows = [
                {
                    "id": d.deposit_id,
                    "type": "deposit",
                    "sub-type": "NORMAL",
                    "currency": d.asset,
                    "chain": _chains(d.asset)[0],
                    "tx-hash": d.tx_id,
                    "amount": amount_text(d.amount),
                    "from-addr-tag": "",
                    "address": d.address,
                    "address-tag": "",
                    "fee": "0",
                    "state": "safe",
                    "created-at": d.created_ms,
                    "updated-at": d.created_ms,
                }
                for d in reversed(self.wallet.deposits)
                if q.get("currency", d.asset) == d.asset
            ]
        else:
            return error("bad_param")
        return ok(rows[: int(q.get("size", 100))])

    async def _withdraw_by_client_id(self, request: web.Request, q: dict[str, str], b: dict[str, Any]) -> web.Response:
        found = self.wallet.by_client_id(q.get("clientOrderId", ""))
        return error("not_found") if found is None else ok(self._withdrawal_json(found))


def amount_text(value: Decimal) -> str:
    """Wallet amounts as exact decimal text (HTX prints JSON numbers; text keeps them off binary floats)."""
    return format(value.normalize(), "f")


CHAINS: dict[str, list[str]] = {"btc": ["btc"], "eth": ["eth"], "usdt": ["usdterc20", "bep20usdt"]}


def _chains(currency: str) -> list[str]:
    return CHAINS.get(currency, [f"{currency}erc20"])


def _network(chain: str) -> str:
    """HTX chain name -> network: btc, eth and *erc20 are Ethereum-family except btc; bep20* is BSC."""
    if chain == "btc":
        return "BTC"
    return "BSC" if chain.startswith("bep20") else "ETH"


def _places(step: Decimal) -> int:
    exp = step.normalize().as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0
