"""Kraken spot: WS v2/v1 book feed with CRC32 checks, AssetPairs instruments."""

from connectors.kraken.checksum import book_checksum, checksum_of_decimals, checksum_of_strings
from connectors.kraken.instruments import load_asset_pairs_file, parse_asset_pairs
from connectors.kraken.market_data import KrakenFeed, capture_symbols, valid_depth, version_for_url
from connectors.kraken.sequencer import KrakenSequencer

__all__ = [
    "KrakenFeed",
    "KrakenSequencer",
    "book_checksum",
    "capture_symbols",
    "checksum_of_decimals",
    "checksum_of_strings",
    "load_asset_pairs_file",
    "parse_asset_pairs",
    "valid_depth",
    "version_for_url",
]
