"""Binance spot: diff-depth market data synced to REST snapshots, and exchangeInfo instruments."""

from connectors.binance.instruments import load_instruments
from connectors.binance.market_data import BinanceFeed, capture_symbols
from connectors.binance.sequencer import BinanceSequencer

__all__ = ["BinanceFeed", "BinanceSequencer", "capture_symbols", "load_instruments"]
