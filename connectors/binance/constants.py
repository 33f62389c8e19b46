"""Binance spot endpoints and protocol constants (see docs/venue-protocols.md §1)."""

from __future__ import annotations

VENUE = "binance"

WS_URL = {"live": "wss://stream.binance.com:9443", "testnet": "wss://stream.testnet.binance.vision"}
REST_URL = {"live": "https://api.binance.com", "testnet": "https://testnet.binance.vision"}
CAPTURE_HOSTS = ("binance.com", "binance.vision")

COMBINED_PATH = "/stream"  # /stream?streams=a/b/c, events wrapped as {"stream":..., "data":...}
DEPTH_PATH = "/api/v3/depth"
EXCHANGE_INFO_PATH = "/api/v3/exchangeInfo"

DEPTH_STREAM = "{symbol}@depth@100ms"
TRADE_STREAM = "{symbol}@trade"
MAX_STREAMS_PER_CONNECTION = 1024
SNAPSHOT_LIMITS = (5, 10, 20, 50, 100, 500, 1000, 5000)

# Weight of GET /api/v3/depth by limit, for the shared rate budget.
DEPTH_WEIGHT = ((100, 5), (500, 25), (1000, 50), (5000, 250))

EVENT_DEPTH = "depthUpdate"
EVENT_TRADE = "trade"
EVENT_SHUTDOWN = "serverShutdown"


def depth_weight(limit: int) -> int:
    for upto, weight in DEPTH_WEIGHT:
        if limit <= upto:
            return weight
    return DEPTH_WEIGHT[-1][1]
