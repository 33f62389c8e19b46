"""Binance exchangeInfo → instruments (PRICE_FILTER, LOT_SIZE, MIN_NOTIONAL/NOTIONAL, MARKET_LOT_SIZE)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from config.instruments import Instrument
from connectors.binance.constants import VENUE

_ZERO = Decimal(0)


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else _ZERO


def parse_symbol(entry: dict[str, Any]) -> Instrument:
    filters = {f["filterType"]: f for f in entry.get("filters", [])}
    price = filters.get("PRICE_FILTER", {})
    lot = filters.get("LOT_SIZE", {})
    market_lot = filters.get("MARKET_LOT_SIZE", {})
    notional = filters.get("NOTIONAL")
    legacy = filters.get("MIN_NOTIONAL")
    if notional is not None:
        min_notional, max_notional = _dec(notional.get("minNotional")), _dec(notional.get("maxNotional"))
        apply_to_market = bool(notional.get("applyMinToMarket", True))
    elif legacy is not None:
        min_notional, max_notional = _dec(legacy.get("minNotional")), _ZERO
        apply_to_market = bool(legacy.get("applyToMarket", True))
    else:
        min_notional, max_notional, apply_to_market = _ZERO, _ZERO, True
    return Instrument(
        symbol=f"{entry['baseAsset']}/{entry['quoteAsset']}",
        base=entry["baseAsset"],
        quote=entry["quoteAsset"],
        venue=VENUE,
        venue_symbol=entry["symbol"],
        tick_size=_dec(price.get("tickSize")),
        step_size=_dec(lot.get("stepSize")),
        min_qty=_dec(lot.get("minQty")),
        max_qty=_dec(lot.get("maxQty")),
        min_price=_dec(price.get("minPrice")),
        max_price=_dec(price.get("maxPrice")),
        min_notional=min_notional,
        max_notional=max_notional,
        apply_min_to_market=apply_to_market,
        market_step_size=_dec(market_lot.get("stepSize")),
        market_max_qty=_dec(market_lot.get("maxQty")),
        trading=entry.get("status") == "TRADING",
    )


def load_instruments(exchange_info: str | bytes | dict[str, Any]) -> list[Instrument]:
    """All symbols of a GET /api/v3/exchangeInfo body."""
    body = orjson.loads(exchange_info) if isinstance(exchange_info, (str, bytes)) else exchange_info
    return [parse_symbol(entry) for entry in body.get("symbols", [])]
