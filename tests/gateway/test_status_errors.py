"""The status page's /book answers bad parameters with errors from the one table, like the API."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.status import MARKET_KEY, book


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("symbol=NOPE", {"code": -1121, "msg": "Invalid symbol."}),
        (
            "symbol=BTC/USDT&depth=0",
            {"code": -1100, "msg": "Illegal characters found in parameter 'depth'; legal range is '1..1000'."},
        ),
    ],
)
async def test_book_refusals_come_from_the_table(query: str, expected: dict[str, object]) -> None:
    app = web.Application()
    app[MARKET_KEY] = SimpleNamespace(market={"BTC/USDT": None})  # type: ignore[assignment]
    app.router.add_get("/book", book)
    async with TestClient(TestServer(app)) as client:
        r = await client.get(f"/book?{query}")
        assert r.status == 400 and await r.json() == expected
