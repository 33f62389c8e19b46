"""OpenAPI 3 at ``/openapi.json``, generated from the routes actually mounted (so it cannot drift), and a
docs page at ``/docs``. Each operation names its Binance weight and security type."""
from __future__ import annotations

import html

from aiohttp import web

from gateway.api.errors import json_response

_SIGNED = ("TRADE", "USER_DATA")


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
