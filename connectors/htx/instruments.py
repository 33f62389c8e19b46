"""HTX symbol rules from ``GET /v1/common/symbols`` (fixture: the recorded HUOBI.0) into Instruments."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import aiohttp
import structlog

from config.instruments import ZERO, Instrument
from connectors.htx.constants import ONLINE_STATE, REST_URL, STATUS_OK, SYMBOLS_PATH, VENUE
from connectors.numbers import loads_exact

log = structlog.get_logger(__name__)


def parse_symbol(entry: Mapping[str, Any]) -> Instrument:
    """One ``data[]`` entry: tick = 10^-price-precision, step = 10^-amount-precision; KeyError/ValueError if bad."""
    base = str(entry["base-currency"]).upper()
    quote = str(entry["quote-currency"]).upper()
    return Instrument(
        symbol=f"{base}/{quote}",
        base=base,
        quote=quote,
        venue=VENUE,
        venue_symbol=str(entry["symbol"]).lower(),
        tick_size=Decimal(1).scaleb(-_precision(entry["price-precision"])),
        step_size=Decimal(1).scaleb(-_precision(entry["amount-precision"])),
        min_qty=_dec(entry.get("min-order-amt")),
        max_qty=_dec(entry.get("max-order-amt")),
        min_notional=_dec(entry.get("min-order-value")),
        trading=entry.get("state") == ONLINE_STATE,
    )


def parse_symbols(body: str | bytes | Mapping[str, Any]) -> list[Instrument]:
    """The whole response; entries that cannot be read are logged and left out."""
    payload = loads_exact(body) if isinstance(body, (str, bytes)) else body
    if (
        not isinstance(payload, Mapping)
        or payload.get("status") != STATUS_OK
        or not isinstance(payload.get("data"), list)
    ):
        raise ValueError(f"symbols response was not ok: {str(payload)[:200]}")
    out: list[Instrument] = []
    for entry in payload["data"]:
        try:
            out.append(parse_symbol(entry))
        except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
            log.warning("htx_bad_symbol_entry", entry=str(entry)[:200], error=repr(exc))
    return out


async def fetch_instruments(session: aiohttp.ClientSession, rest_url: str | None = None) -> list[Instrument]:
    """GET /v1/common/symbols and parse it."""
    async with session.get((rest_url or REST_URL).rstrip("/") + SYMBOLS_PATH) as resp:
        resp.raise_for_status()
        return parse_symbols(await resp.read())


def _precision(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 30:
        raise ValueError(f"precision was {value!r}")
    return value


def _dec(value: Any) -> Decimal:
    if value is None:
        return ZERO
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise ValueError(f"number was {value!r}")
    return Decimal(value)
