"""HTX (Huobi) spot market-data constants: endpoints, topics, limits. Plain data only.

Source: docs/venue-protocols.md section 3 (HTX "Websocket Market Data", "Market By Price").
"""

from __future__ import annotations

VENUE = "htx"

# Every market topic lives on /ws except the MBP incremental stream and its REQ snapshot, which use /feed.
WS_PATH = "/ws"
FEED_PATH = "/feed"
WS_HOSTS = {"mainnet": "wss://api.huobi.pro", "aws": "wss://api-aws.huobi.pro"}
REST_URL = "https://api.huobi.pro"
SYMBOLS_PATH = "/v1/common/symbols"

MODES = ("mbp", "step0")

# Topics; symbols are lower case (`btcusdt`).
DEPTH_STEP0_TOPIC = "market.{symbol}.depth.step0"
MBP_TOPIC = "market.{symbol}.mbp.{levels}"
TRADE_TOPIC = "market.{symbol}.trade.detail"  # served on /ws, not on /feed

# mbp.5 / mbp.20 are tick-by-tick (only the changed side is present); mbp.150 is a 100 ms diff with both sides.
MBP_LEVELS = (5, 20, 150)
MBP_TICK_BY_TICK_LEVELS = (5, 20)
STEP0_LEVELS = 150

# Two REQs on one connection must be at least 100 ms apart.
REQ_MIN_INTERVAL_NS = 100_000_000
# Our own spacing: a margin over the rule, since the venue measures arrival times, not our send times (a 20 ms
# margin was seen squeezed away on a loaded machine; a refused REQ is asked again, but costs a round trip).
REQ_SPACING_NS = 150_000_000
# A REQ with no answer after this long is asked again.
REQ_TIMEOUT_NS = 10_000_000_000

# The server pings about every 5 s and disconnects after 2 unanswered pings.
PING_INTERVAL_S = 5.0
MAX_MISSED_PINGS = 2

STATUS_OK = "ok"
STATUS_ERROR = "error"
ONLINE_STATE = "online"

# Hosts that identify HTX in recorded captures (connectors/venues.py).
CAPTURE_HOSTS = ("huobi.pro", "htx.com")
