"""The Binance-compatible API: REST (/api/v3), user streams, WebSocket market and user data, broker admin.

Public face: :func:`build_app` (the aiohttp application) and the pieces it is made of.
"""

from gateway.api.app import build_app
from gateway.api.context import ApiContext

__all__ = ["ApiContext", "build_app"]
