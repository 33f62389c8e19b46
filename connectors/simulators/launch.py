"""Start a local simulated market: every venue's simulator for the given symbols, on loopback.

Each venue gets its own tick size, depth and seed around a shared mid, so the consolidated book has
something to merge. Returns the simulators and the URL overrides that point Braid's feeds at them.
"""

from __future__ import annotations

from decimal import Decimal

from config.instruments import Instrument
from connectors.simulators.binance import BinanceSimulator
from connectors.simulators.htx import HtxSimulator
from connectors.simulators.kraken import KrakenSimulator
from connectors.simulators.market import MarketGenerator
from connectors.simulators.server import SimServer

# canonical symbol -> (mid, lot); ticks differ per venue below
_MARKETS = {"BTC/USDT": (Decimal("30000"), Decimal("0.0001")), "ETH/USDT": (Decimal("2000"), Decimal("0.001"))}
_TICKS = {"binance": Decimal("0.01"), "kraken": Decimal("0.1"), "htx": Decimal("0.01")}
_SEEDS = {"binance": 11, "kraken": 23, "htx": 37}


def _market(symbol: str) -> tuple[Decimal, Decimal]:
    return _MARKETS.get(symbol, (Decimal("100"), Decimal("0.01")))


def _generator(venue: str, symbol: str, index: int) -> MarketGenerator:
    mid, lot = _market(symbol)
    return MarketGenerator(mid, _TICKS[venue], lot, levels=60, seed=_SEEDS[venue] + index)


def kraken_instrument(symbol: str) -> Instrument:
    base, _, quote = symbol.partition("/")
    wire = f"{'XBT' if base == 'BTC' else base}/{quote}"
    _, lot = _market(symbol)
    return Instrument(symbol, base, quote, "kraken", wire, _TICKS["kraken"], lot)


async def launch_simulators(
    symbols: list[str], venues: list[str], *, interval_s: float = 0.1
) -> tuple[dict[str, SimServer], dict[str, dict[str, str]]]:
    sims: dict[str, SimServer] = {}
    overrides: dict[str, dict[str, str]] = {}
    if "binance" in venues:
        sim: SimServer = BinanceSimulator(
            {s.replace("/", ""): _generator("binance", s, i) for i, s in enumerate(symbols)}, interval_s=interval_s
        )
        await sim.start()
        sims["binance"] = sim
        overrides["binance"] = {"ws_url": sim.ws_base, "rest_url": sim.base_url}
    if "kraken" in venues:
        sim = KrakenSimulator(
            [kraken_instrument(s) for s in symbols],
            {s: _generator("kraken", s, i) for i, s in enumerate(symbols)},
            interval_s=interval_s,
        )
        await sim.start()
        sims["kraken"] = sim
        overrides["kraken"] = {"ws_url": sim.ws_base + "/v2", "rest_url": sim.base_url}
    if "htx" in venues:
        sim = HtxSimulator(
            {s.replace("/", "").lower(): _generator("htx", s, i) for i, s in enumerate(symbols)}, interval_s=interval_s
        )
        await sim.start()
        sims["htx"] = sim
        overrides["htx"] = {"ws_url": sim.ws_base, "rest_url": sim.base_url}
    return sims, overrides
