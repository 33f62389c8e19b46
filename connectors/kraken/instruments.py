"""Kraken ``GET /0/public/AssetPairs`` -> Instrument list (sample: replay_samples/kraken KRAKEN.0).

Canonical names follow WS v2 (``BTC/USD``): the v1 ``wsname`` (``XBT/USD``) with legacy asset codes mapped
(XBT -> BTC, XDG -> DOGE). ``venue_symbol`` keeps the v1 wire name; v2 uses the canonical name itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog

from config.instruments import ZERO, Instrument
from connectors.capture import LineKind, read_capture
from connectors.kraken.constants import ASSET_ALIASES, VENUE
from connectors.numbers import loads_exact
from connectors.symbols import SymbolRegistry

log = structlog.get_logger(__name__)


def canonical_asset(code: str) -> str:
    """Kraken asset code (as in a wsname) -> Braid's name: XBT -> BTC, XDG -> DOGE, others unchanged."""
    return ASSET_ALIASES.get(code, code)


def canonical_symbol(wsname: str) -> str:
    """'XBT/USD' -> 'BTC/USD'."""
    base, _, quote = wsname.partition("/")
    return f"{canonical_asset(base)}/{canonical_asset(quote)}"


def _unit(decimals: int) -> Decimal:
    # 10^-n written out ('0.00000001', not '1E-8') so it reads like the venue's own numbers.
    return Decimal(1) if decimals <= 0 else Decimal("0." + "0" * (decimals - 1) + "1")


def _dec(value: Any) -> Decimal:
    if value is None:
        return ZERO
    if isinstance(value, float):  # loads_exact never yields one; refuse rather than round
        raise TypeError("a float reached the instrument parser")
    return Decimal(str(value))


def parse_asset_pair(key: str, pair: Mapping[str, Any]) -> Instrument | None:
    """One AssetPairs entry -> Instrument; None for pairs not on the WebSocket (dark pools ``*.d``)."""
    wsname = pair.get("wsname")
    if not isinstance(wsname, str) or "/" not in wsname:
        return None
    base, _, quote = wsname.partition("/")
    tick = _dec(pair["tick_size"]) if pair.get("tick_size") is not None else _unit(int(pair["pair_decimals"]))
    step = _unit(int(pair["lot_decimals"]))
    status = pair.get("status")
    return Instrument(
        symbol=canonical_symbol(wsname),
        base=canonical_asset(base),
        quote=canonical_asset(quote),
        venue=VENUE,
        venue_symbol=wsname,
        tick_size=tick,
        step_size=step,
        min_qty=_dec(pair.get("ordermin")),
        min_notional=_dec(pair.get("costmin")),
        trading=status is None or status == "online",
    )


def parse_asset_pairs(payload: Mapping[str, Any] | str | bytes) -> list[Instrument]:
    """The whole AssetPairs response (``{"error": [], "result": {...}}``) -> instruments, sorted by symbol."""
    body = loads_exact(payload) if isinstance(payload, (str, bytes)) else payload
    errors = body.get("error") or []
    if errors:
        raise ValueError(f"AssetPairs returned errors: {errors}")
    out: list[Instrument] = []
    for key, pair in body["result"].items():
        try:
            inst = parse_asset_pair(key, pair)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            log.warning("kraken_bad_asset_pair", pair=key, error=str(exc))
            continue
        if inst is not None:
            out.append(inst)
    return sorted(out, key=lambda i: i.symbol)


def load_asset_pairs_file(path: str | Path) -> list[Instrument]:
    """Instruments from a recorded file (the first REST response line in it; other lines are skipped)."""
    for line in read_capture(path):
        if line.kind is LineKind.HTTP and "AssetPairs" in (line.url or ""):
            assert isinstance(line.payload, str)
            return parse_asset_pairs(line.payload)
    raise ValueError(f"{path}: no AssetPairs response found")


def register(registry: SymbolRegistry, instruments: Iterable[Instrument]) -> None:
    """Add Kraken instruments to the shared symbol registry."""
    for inst in instruments:
        registry.add(inst)
