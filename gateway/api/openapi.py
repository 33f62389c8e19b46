"""OpenAPI 3 at ``/openapi.json``, generated from the routes actually mounted (so it cannot drift), and a
docs page at ``/docs``. Each operation names its Binance weight and security type."""

from __future__ import annotations

import html
import re
from typing import Any, cast

from aiohttp import web

from connectors.binance.auth import MAX_RECV_WINDOW_MS
from gateway.api.errors import json_response

_SIGNED = ("TRADE", "USER_DATA")
_ORDER = (
    "symbol!,side!:BUY|SELL,type!:LIMIT|LIMIT_MAKER|MARKET,timeInForce:GTC|IOC|FOK,quantity:decimal,"
    "quoteOrderQty:decimal,price:decimal,newClientOrderId,newOrderRespType:ACK|RESULT|FULL"
)
_SIGNING = "recvWindow:window,timestamp!:integer,signature!"
# Parameters per handler (name! = required; :integer / :decimal / :window (recvWindow) / :A|B|C give the type or
# the values).
PARAMS: dict[str, str] = {
    "exchange_info": "symbol,symbols",
    "depth": "symbol!,limit:integer",
    "trades": "symbol!,limit:integer,fromId:integer",
    "agg_trades": "symbol!,fromId:integer,startTime:integer,endTime:integer,limit:integer",
    "klines": "symbol!,interval!,startTime:integer,endTime:integer,limit:integer,timeZone",
    "ticker_24h": "symbol,symbols,type:FULL|MINI",
    "ticker_window": "symbol,symbols,windowSize,type:FULL|MINI",
    "ticker_price": "symbol,symbols",
    "book_ticker": "symbol,symbols",
    "avg_price": "symbol!",
    "new_order": f"{_ORDER},{_SIGNING}",
    "test_order": f"{_ORDER},{_SIGNING}",
    "query_order": f"symbol!,orderId:integer,origClientOrderId,{_SIGNING}",
    "cancel_order": f"symbol!,orderId:integer,origClientOrderId,{_SIGNING}",
    "open_orders": f"symbol,{_SIGNING}",
    "cancel_open_orders": f"symbol!,{_SIGNING}",
    "all_orders": f"symbol!,orderId:integer,startTime:integer,endTime:integer,limit:integer,{_SIGNING}",
    "my_trades": f"symbol!,orderId:integer,fromId:integer,startTime:integer,endTime:integer,limit:integer,{_SIGNING}",
    "account": f"omitZeroBalances:true|false,{_SIGNING}",
    "keepalive": "listenKey!",
    "close": "listenKey!",
    "create_sub_account": f"tag,{_SIGNING}",
    "create_api_key": f"subAccountId!:integer,canTrade:true|false,ipAddress,totpCode,{_SIGNING}",
    "delete_api_key": f"subAccountId!:integer,subAccountApiKey!,{_SIGNING}",
    "set_commission": f"subAccountId,makerCommission:decimal,takerCommission:decimal,{_SIGNING}",
    "tax_report": f"year!:integer,method:FIFO|HIFO|AVERAGE,currency,format:JSON|CSV,{_SIGNING}",
    "coin_config": _SIGNING,
    "deposit_address": f"coin!,network,{_SIGNING}",
    "deposit_hisrec": f"coin,status:integer,startTime:integer,endTime:integer,offset:integer,limit:integer,txId,"
    f"{_SIGNING}",
    "withdraw_apply": f"coin!,network,address!,amount!:decimal,withdrawOrderId,addressTag,questionnaire,"
    f"hostedWallet:true|false,totpCode,{_SIGNING}",
    "deposit_provide_info": f"depositId,tranId,questionnaire!,{_SIGNING}",
    "withdraw_history": f"coin,withdrawOrderId,status:integer,offset:integer,limit:integer,startTime:integer,"
    f"endTime:integer,idList,{_SIGNING}",
}


# handlers that answer CSV when asked (`format=CSV`)
CSV_ANSWERS = {"tax_report"}

# --- answers: the 200 body of each handler, as the handlers build it (tests/gateway/test_openapi.py checks real ones)
_DEC: dict[str, object] = {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$"}  # Binance's decimal strings
_KINDS: dict[str, dict[str, object]] = {
    "dec": _DEC,
    "int": {"type": "integer", "format": "int64"},
    "str": {"type": "string"},
    "bool": {"type": "boolean"},
}


def _field(kind: str) -> dict[str, object]:
    if kind.startswith("["):  # [X]: an array of X
        return {"type": "array", "items": _field(kind[1:-1])}
    if kind in _KINDS:
        return _KINDS[kind]
    return {"$ref": f"#/components/schemas/{kind}"}


def _object(fields: str, optional: str = "") -> dict[str, object]:
    """An object schema from ``name:kind,...`` (all required) and ``optional`` fields of the same form."""
    props: dict[str, object] = {}
    required = []
    for text, must in ((fields, True), (optional, False)):
        for item in filter(None, text.split(",")):
            name, _, kind = item.partition(":")
            props[name] = _field(kind)
            if must:
                required.append(name)
    out: dict[str, object] = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    return out


_ORDER_HEAD = "symbol:str,orderId:int,orderListId:int,clientOrderId:str"
_ORDER_STATE = (
    "price:dec,origQty:dec,executedQty:dec,cummulativeQuoteQty:dec,status:str,timeInForce:str,type:str,"
    "side:str,workingTime:int,origQuoteOrderQty:dec,selfTradePreventionMode:str"
)
_TICKER = (
    "symbol:str,priceChange:dec,priceChangePercent:dec,weightedAvgPrice:dec,prevClosePrice:dec,lastPrice:dec,"
    "lastQty:dec,bidPrice:dec,bidQty:dec,askPrice:dec,askQty:dec,openPrice:dec,highPrice:dec,lowPrice:dec,"
    "volume:dec,quoteVolume:dec,openTime:int,closeTime:int,firstId:int,lastId:int,count:int"
)
SCHEMAS: dict[str, dict[str, object]] = {
    "Empty": {"type": "object", "additionalProperties": False},
    "ServerTime": _object("serverTime:int"),
    "RateLimit": _object("rateLimitType:str,interval:str,intervalNum:int,limit:int"),
    "Filter": _object("filterType:str"),
    "SymbolInfo": _object(
        "symbol:str,status:str,baseAsset:str,quoteAsset:str,baseAssetPrecision:int,"
        "quoteAssetPrecision:int,orderTypes:[str],quoteOrderQtyMarketAllowed:bool,"
        "isSpotTradingAllowed:bool,filters:[Filter],permissions:[str]"
    ),
    "ExchangeInfo": _object(
        "timezone:str,serverTime:int,rateLimits:[RateLimit],exchangeFilters:[Filter],symbols:[SymbolInfo]"
    ),
    "Level": {"type": "array", "items": _DEC, "minItems": 2, "maxItems": 2},  # [price, quantity]
    "Depth": _object("lastUpdateId:int,bids:[Level],asks:[Level]"),
    "Trade": _object("id:int,price:dec,qty:dec,quoteQty:dec,time:int,isBuyerMaker:bool,isBestMatch:bool"),
    "AggTrade": _object("a:int,p:dec,q:dec,f:int,l:int,T:int,m:bool,M:bool"),
    # open time, open, high, low, close, volume, close time, quote volume, trades, taker buy base, taker buy
    # quote, unused "0"
    "Kline": {
        "type": "array",
        "minItems": 12,
        "maxItems": 12,
        "items": {"oneOf": [{"type": "integer", "format": "int64"}, {"type": "string"}]},
    },
    "Ticker24h": _object(_TICKER),
    # type=MINI: the mini ticker's fields only
    "TickerMini": {
        **_object(
            "symbol:str,openPrice:dec,highPrice:dec,lowPrice:dec,lastPrice:dec,volume:dec,quoteVolume:dec,"
            "openTime:int,closeTime:int,firstId:int,lastId:int,count:int"
        ),
        "additionalProperties": False,
    },
    "TickerWindow": _object(
        "symbol:str,priceChange:dec,priceChangePercent:dec,weightedAvgPrice:dec,openPrice:dec,highPrice:dec,"
        "lowPrice:dec,lastPrice:dec,volume:dec,quoteVolume:dec,openTime:int,closeTime:int,firstId:int,lastId:int,"
        "count:int"
    ),
    "TickerPrice": _object("symbol:str,price:dec"),
    "BookTicker": _object("symbol:str,bidPrice:dec,bidQty:dec,askPrice:dec,askQty:dec"),
    "AvgPrice": _object("mins:int,price:dec,closeTime:int"),
    "Fill": _object("price:dec,qty:dec,commission:dec,commissionAsset:str,tradeId:int"),
    # newOrderRespType ACK answers the first five fields only; RESULT adds the order's state, FULL its fills
    "NewOrder": _object(f"{_ORDER_HEAD},transactTime:int", f"{_ORDER_STATE},fills:[Fill]"),
    "Order": _object(
        f"{_ORDER_HEAD},{_ORDER_STATE},stopPrice:dec,icebergQty:dec,time:int,updateTime:int,isWorking:bool"
    ),
    "CanceledOrder": _object(f"{_ORDER_HEAD},{_ORDER_STATE},origClientOrderId:str", "transactTime:int"),
    "MyTrade": _object(
        "symbol:str,id:int,orderId:int,orderListId:int,price:dec,qty:dec,quoteQty:dec,commission:dec,"
        "commissionAsset:str,time:int,isBuyer:bool,isMaker:bool,isBestMatch:bool"
    ),
    "Balance": _object("asset:str,free:dec,locked:dec"),
    "CommissionRates": _object("maker:dec,taker:dec,buyer:dec,seller:dec"),
    "Account": _object(
        "makerCommission:int,takerCommission:int,buyerCommission:int,sellerCommission:int,"
        "commissionRates:CommissionRates,canTrade:bool,canWithdraw:bool,canDeposit:bool,"
        "brokered:bool,requireSelfTradePrevention:bool,preventSor:bool,updateTime:int,"
        "accountType:str,balances:[Balance],permissions:[str],uid:int"
    ),
    "ListenKey": _object("listenKey:str"),
    "SubAccount": _object("subaccountId:str,email:str,tag:str"),
    "SubAccountApiKey": _object(
        "subaccountId:str,apiKey:str,secretKey:str,canTrade:bool,marginTrade:bool,futuresTrade:bool,ipRestrict:bool"
    ),
    "Commission": _object("makerCommission:dec,takerCommission:dec", "subAccountId:str"),
    # tax report: amounts as exact decimal strings (gains may be negative), dates ISO 8601 UTC ("" if unknown)
    "TaxDisposal": _object(
        "asset:str,quantity:dec,acquired:str,disposed:str,proceeds:dec,cost_basis:dec,"
        "gain_or_loss:dec,term:str,fees:dec,fee_treatment:str,method:str,currency:str,"
        "disposal_trade:str,acquisition_trade:str"
    ),
    "TaxSummary": _object(
        "asset:str,disposals:str,quantity:dec,proceeds:dec,cost_basis:dec,gain_or_loss:dec,"
        "fees:dec,short_term:dec,long_term:dec,unknown_term:dec"
    ),
    "TaxReport": _object("accountId:int,year:int,method:str,currency:str,disposals:[TaxDisposal],summary:[TaxSummary]"),
    "KycWebhookResult": _object("status:str", "account:int,tier:int,reason:str"),
    "CoinNetwork": _object(
        "network:str,coin:str,withdrawIntegerMultiple:dec,isDefault:bool,depositEnable:bool,"
        "withdrawEnable:bool,depositDesc:str,withdrawDesc:str,specialTips:str,name:str,"
        "resetAddressStatus:bool,addressRegex:str,memoRegex:str,withdrawFee:dec,withdrawMin:dec,"
        "withdrawMax:dec,depositDust:dec,minConfirm:int,unLockConfirm:int,sameAddress:bool,"
        "estimatedArrivalTime:int,busy:bool,contractAddressUrl:str,contractAddress:str"
    ),
    "CoinConfig": _object(
        "coin:str,depositAllEnable:bool,withdrawAllEnable:bool,name:str,free:dec,locked:dec,"
        "freeze:dec,withdrawing:dec,ipoing:dec,ipoable:dec,storage:dec,isLegalMoney:bool,"
        "trading:bool,networkList:[CoinNetwork]"
    ),
    "DepositAddress": _object("address:str,coin:str,tag:str,url:str"),
    # status 0 pending (or held by compliance), 6 credited but not yet withdrawable (or locked by compliance),
    # 1 success, 7 not credited (dust, reversed), 2 rejected (returned by compliance)
    "Deposit": _object(
        "id:str,amount:dec,coin:str,network:str,status:int,address:str,addressTag:str,txId:str,"
        "insertTime:int,completeTime:int,transferType:int,confirmTimes:str,unlockConfirm:int,"
        "walletType:int"
    ),
    "WithdrawId": _object("id:str"),
    "DepositInfoAccepted": _object("depositId:str,accepted:bool,info:str"),
    # status 1 cancelled, 2 awaiting approval (or held by compliance), 3 rejected, 4 processing, 5 failure, 6 completed
    "Withdrawal": _object(
        "id:str,amount:dec,transactionFee:dec,coin:str,status:int,address:str,txId:str,"
        "applyTime:str,network:str,transferType:int,withdrawOrderId:str,info:str,confirmNo:int,"
        "walletType:int,txKey:str",
        "completeTime:str",
    ),
}
# handler -> its answer: a schema name, [Name] for an array of them, Name|[Name] for one (with ``symbol``) or many
ANSWERS: dict[str, str] = {
    "ping": "Empty",
    "server_time": "ServerTime",
    "exchange_info": "ExchangeInfo",
    "depth": "Depth",
    "trades": "[Trade]",
    "agg_trades": "[AggTrade]",
    "klines": "[Kline]",
    "ticker_24h": "Ticker24h|[Ticker24h]|TickerMini|[TickerMini]",
    "ticker_window": "TickerWindow|[TickerWindow]|TickerMini|[TickerMini]",
    "ticker_price": "TickerPrice|[TickerPrice]",
    "book_ticker": "BookTicker|[BookTicker]",
    "avg_price": "AvgPrice",
    "new_order": "NewOrder",
    "test_order": "Empty",
    "query_order": "Order",
    "cancel_order": "CanceledOrder",
    "open_orders": "[Order]",
    "cancel_open_orders": "[CanceledOrder]",
    "all_orders": "[Order]",
    "my_trades": "[MyTrade]",
    "account": "Account",
    "create": "ListenKey",
    "keepalive": "Empty",
    "close": "Empty",
    "create_sub_account": "SubAccount",
    "create_api_key": "SubAccountApiKey",
    "delete_api_key": "Empty",
    "set_commission": "Commission",
    "tax_report": "TaxReport",
    "sumsub_webhook": "KycWebhookResult",
    "onfido_webhook": "KycWebhookResult",
    "coin_config": "[CoinConfig]",
    "deposit_address": "DepositAddress",
    "deposit_hisrec": "[Deposit]",
    "withdraw_apply": "WithdrawId",
    "deposit_provide_info": "DepositInfoAccepted",
    "withdraw_history": "[Withdrawal]",
}


def answer_schema(text: str) -> dict[str, object]:
    """The schema an ``ANSWERS`` entry names."""
    if "|" in text:
        return {"anyOf": [answer_schema(part) for part in text.split("|")]}  # an empty list fits every [X]
    return _field(text)


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
        elif kind == "window":  # whole milliseconds as documented (up to 3 decimals are taken too)
            schema = {"type": "integer", "minimum": 1, "maximum": MAX_RECV_WINDOW_MS}
        elif kind:
            schema = {"type": "string", "enum": kind.split("|")}
        param: dict[str, object] = {"name": name, "in": where, "required": required, "schema": schema}
        if not required:  # `name=` with nothing after it is taken as not sent
            param["allowEmptyValue"] = True
        out.append(param)
    return out


def spec(app: web.Application) -> dict[str, object]:
    paths: dict[str, dict[str, object]] = {}
    ids: set[str] = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if not path or route.method in ("HEAD", "*") or path in ("/openapi.json", "/docs"):
            continue
        handler = route.handler
        security = getattr(handler, "security", None)
        weight = getattr(handler, "weight", None)
        sec_name = (
            security.value if security is not None else ("WEBSOCKET" if path.startswith(("/ws", "/stream")) else "NONE")
        )
        name = handler.__name__
        op_id = f"{route.method.lower()}_{name}"
        if op_id in ids:  # one handler on two paths (trades and historicalTrades): ids must be unique
            op_id += "_" + "_".join(part for part in path.strip("/").split("/")[2:] if part.isidentifier())
        ids.add(op_id)
        ok: dict[str, object] = {"description": "OK"}
        if name in ANSWERS:
            ok["content"] = {"application/json": {"schema": answer_schema(ANSWERS[name])}}
        if name in CSV_ANSWERS:  # format=CSV
            ok["content"] = {
                **cast(dict[str, object], ok.get("content", {})),
                "text/csv": {"schema": {"type": "string"}},
            }
        upgrade = sec_name == "WEBSOCKET"
        responses = {"101": {"description": "Switching Protocols: the WebSocket"}} if upgrade else {"200": ok}
        responses["4XX"] = {"$ref": "#/components/responses/Error"}
        op: dict[str, object] = {
            "summary": (handler.__doc__ or name).strip().splitlines()[0],
            "operationId": op_id,
            "x-binance-security": sec_name,
            "responses": responses,
        }
        if weight is not None:
            op["x-weight"] = weight
        parameters = [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
            for n in re.findall(r"{(\w+)}", path)
        ]
        if name in PARAMS:
            parameters += _parameters(PARAMS[name], route.method.lower())
        if parameters:
            op["parameters"] = parameters
        if sec_name in _SIGNED:
            op["security"] = [{"apiKey": [], "signature": []}]
        elif sec_name in ("USER_STREAM", "MARKET_DATA"):
            op["security"] = [{"apiKey": []}]
        paths.setdefault(path, {})[route.method.lower()] = op
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Braid Binance-compatible API",
            "version": "1",
            "description": "Binance spot REST/WebSocket semantics: signed requests are HMAC-SHA256 over the raw "
            "query string and body (minus signature), with timestamp and recvWindow.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-MBX-APIKEY"},
                "signature": {"type": "apiKey", "in": "query", "name": "signature"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["code", "msg"],
                    "properties": {"code": {"type": "integer"}, "msg": {"type": "string"}},
                },
                **SCHEMAS,
            },
            "responses": {
                "Error": {
                    "description": "Binance error",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
            },
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(spec(request.app))


def _schema_name(schema: dict[str, object]) -> str:
    """A schema as the docs page names it: ``Order``, ``[Order]``, ``Ticker | [Ticker]``."""
    if "anyOf" in schema:
        return " | ".join(_schema_name(s) for s in schema["anyOf"])  # type: ignore[attr-defined]
    if schema.get("type") == "array":
        return f"[{_schema_name(schema['items'])}]"  # type: ignore[arg-type]
    return str(schema.get("$ref", schema.get("type", ""))).rsplit("/", 1)[-1]


async def docs(request: web.Request) -> web.Response:
    rows = []
    paths = cast(dict[str, dict[str, Any]], spec(request.app)["paths"])
    for path, ops in paths.items():
        for method, op in ops.items():
            ok = op["responses"].get("200", {}).get("content", {}).get("application/json", {})
            answer = _schema_name(ok["schema"]) if ok else ""
            rows.append(
                f"<tr><td>{method.upper()}</td><td>{html.escape(path)}</td><td>{op['x-binance-security']}</td>"
                f"<td>{op.get('x-weight', '')}</td><td>{html.escape(answer)}</td>"
                f"<td>{html.escape(str(op['summary']))}</td></tr>"
            )
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Braid API</title></head><body>"
        "<h1>Braid Binance-compatible API</h1><p>Machine-readable, with every answer's schema: "
        "<a href='/openapi.json'>/openapi.json</a></p>"
        "<table><tr><th>method</th><th>path</th><th>security</th><th>weight</th><th>answer</th><th>summary</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )
    return web.Response(text=body, content_type="text/html")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get("/docs", docs)
