"""OpenAPI 3 at ``/openapi.json``, generated from the routes actually mounted (so it cannot drift), and a
docs page at ``/docs``. Each operation names its Binance weight and security type."""
from __future__ import annotations

import html

from aiohttp import web

from gateway.api.errors import json_response

_SIGNED = ("TRADE", "USER_DATA")
_ORDER = ("symbol!,side!:BUY|SELL,type!:LIMIT|LIMIT_MAKER|MARKET,timeInForce:GTC|IOC|FOK,quantity:decimal,"
          "quoteOrderQty:decimal,price:decimal,newClientOrderId,newOrderRespType:ACK|RESULT|FULL")
_SIGNING = "recvWindow:decimal,timestamp!:integer,signature!"
# Parameters per handler (name! = required; :integer / :decimal / :A|B|C give the type or the values).
PARAMS: dict[str, str] = {
    "exchange_info": "symbol,symbols", "depth": "symbol!,limit:integer", "trades": "symbol!,limit:integer",
    "agg_trades": "symbol!,fromId:integer,startTime:integer,endTime:integer,limit:integer",
    "klines": "symbol!,interval!,startTime:integer,endTime:integer,limit:integer",
    "ticker_24h": "symbol,symbols", "ticker_price": "symbol,symbols", "book_ticker": "symbol,symbols",
    "avg_price": "symbol!",
    "new_order": f"{_ORDER},{_SIGNING}", "test_order": f"{_ORDER},{_SIGNING}",
    "query_order": f"symbol!,orderId:integer,origClientOrderId,{_SIGNING}",
    "cancel_order": f"symbol!,orderId:integer,origClientOrderId,{_SIGNING}",
    "open_orders": f"symbol,{_SIGNING}", "cancel_open_orders": f"symbol!,{_SIGNING}",
    "all_orders": f"symbol!,orderId:integer,startTime:integer,endTime:integer,limit:integer,{_SIGNING}",
    "my_trades": f"symbol!,orderId:integer,fromId:integer,startTime:integer,endTime:integer,limit:integer,{_SIGNING}",
    "account": f"omitZeroBalances:true|false,{_SIGNING}",
    "keepalive": "listenKey!", "close": "listenKey!",
    "create_sub_account": f"tag,{_SIGNING}",
    "create_api_key": f"subAccountId!:integer,canTrade:true|false,ipAddress,{_SIGNING}",
    "delete_api_key": f"subAccountId!:integer,subAccountApiKey!,{_SIGNING}",
    "set_commission": f"subAccountId,makerCommission:decimal,takerCommission:decimal,{_SIGNING}",
}


def _parameters(spec_text: str, method: str) -> list[dict[str, object]]:
    # Binance takes every parameter in the query string; POST/PUT/DELETE may send the same names as a form body
    where = "query"
    out = []
    for item in spec_text.split(","):
        name, _, kind = item.partition(":")
        required = name.endswith("!")
        name = name.rstrip("!")
        schema: dict[str, object] = {"type": "string"}
        if kind == "integer":
            schema = {"type": "integer", "format": "int64"}
        elif kind == "decimal":
            schema = {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$"}
        elif kind:
            schema = {"type": "string", "enum": kind.split("|")}
        out.append({"name": name, "in": where, "required": required, "schema": schema})
    return out


def spec(app: web.Application) -> dict[str, object]:
    paths: dict[str, dict[str, object]] = {}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if not path or route.method in ("HEAD", "*") or path in ("/openapi.json", "/docs"):
            continue
        handler = route.handler
        security = getattr(handler, "security", None)
        weight = getattr(handler, "weight", None)
        sec_name = security.value if security is not None else ("WEBSOCKET" if path.startswith(("/ws", "/stream")) else "NONE")
        op: dict[str, object] = {
            "summary": (handler.__doc__ or handler.__name__).strip().splitlines()[0],
            "operationId": f"{route.method.lower()}_{handler.__name__}",
            "x-binance-security": sec_name,
            "responses": {"200": {"description": "OK"}, "4XX": {"$ref": "#/components/responses/Error"}},
        }
        if weight is not None:
            op["x-weight"] = weight
        if handler.__name__ in PARAMS:
            op["parameters"] = _parameters(PARAMS[handler.__name__], route.method.lower())
        if sec_name in _SIGNED:
            op["security"] = [{"apiKey": [], "signature": []}]
        elif sec_name in ("USER_STREAM", "MARKET_DATA"):
            op["security"] = [{"apiKey": []}]
        paths.setdefault(path, {})[route.method.lower()] = op
    return {
        "openapi": "3.0.3",
        "info": {"title": "Braid Binance-compatible API", "version": "1",
                 "description": "Binance spot REST/WebSocket semantics: signed requests are HMAC-SHA256 over the raw "
                                "query string and body (minus signature), with timestamp and recvWindow."},
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-MBX-APIKEY"},
                "signature": {"type": "apiKey", "in": "query", "name": "signature"},
            },
            "schemas": {"Error": {"type": "object", "required": ["code", "msg"],
                                  "properties": {"code": {"type": "integer"}, "msg": {"type": "string"}}}},
            "responses": {"Error": {"description": "Binance error", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(spec(request.app))


async def docs(request: web.Request) -> web.Response:
    rows = []
    for path, ops in spec(request.app)["paths"].items():  # type: ignore[union-attr]
        for method, op in ops.items():
            rows.append(f"<tr><td>{method.upper()}</td><td>{html.escape(path)}</td><td>{op['x-binance-security']}</td>"
                        f"<td>{op.get('x-weight', '')}</td><td>{html.escape(str(op['summary']))}</td></tr>")
    body = ("<!doctype html><html><head><meta charset='utf-8'><title>Braid API</title></head><body>"
            "<h1>Braid Binance-compatible API</h1><p>Machine-readable: <a href='/openapi.json'>/openapi.json</a></p>"
            "<table><tr><th>method</th><th>path</th><th>security</th><th>weight</th><th>summary</th></tr>"
            + "".join(rows) + "</table></body></html>")
    return web.Response(text=body, content_type="text/html")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get("/docs", docs)
