"""Kraken spot market-data constants: plain data (venue-protocols.md §2)."""

from __future__ import annotations

VENUE = "kraken"

WS_URL_V2 = "wss://ws.kraken.com/v2"
WS_URL_V1 = "wss://ws.kraken.com"
REST_URL = "https://api.kraken.com"
ASSET_PAIRS_PATH = "/0/public/AssetPairs"
# Recorded traffic from these hosts (and their subdomains: ws., api., beta-ws.) is Kraken's.
CAPTURE_HOSTS: tuple[str, ...] = ("kraken.com",)

BOOK_CHANNEL = "book"
TRADE_CHANNEL = "trade"
HEARTBEAT_CHANNEL = "heartbeat"
STATUS_CHANNEL = "status"

# Depths the book channel accepts (v1 and v2).
BOOK_DEPTHS: tuple[int, ...] = (10, 25, 100, 500, 1000)
# The CRC32 always covers this many levels a side, whatever the subscribed depth.
CHECKSUM_LEVELS = 10

# Legacy asset codes (REST / WS v1) -> the names WS v2 and Braid use.
ASSET_ALIASES: dict[str, str] = {
    "XBT": "BTC",
    "XXBT": "BTC",
    "XDG": "DOGE",
    "XXDG": "DOGE",
}

# Keep-alive: the client pings; the server answers (v1 also sends heartbeat events unprompted).
PING_V1 = '{"event":"ping","reqid":%d}'
PING_V2 = '{"method":"ping","req_id":%d}'
