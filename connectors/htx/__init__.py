"""HTX (Huobi) spot connector: market data (mbp increments or step0 snapshots), symbol rules."""

from connectors.htx.instruments import fetch_instruments, parse_symbols
from connectors.htx.market_data import HtxFeed, feed_url, mbp_levels
from connectors.htx.parse import HtxFrameError, parse_frame
from connectors.htx.sequencer import HtxMbpSequencer

__all__ = [
    "HtxFeed",
    "HtxFrameError",
    "HtxMbpSequencer",
    "feed_url",
    "fetch_instruments",
    "mbp_levels",
    "parse_frame",
    "parse_symbols",
]
