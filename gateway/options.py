"""Command-line options shared by several `braid` commands."""

from __future__ import annotations

from collections.abc import Iterable

from connectors.venues import known_venues


def venue_url_overrides(items: Iterable[str]) -> dict[str, dict[str, object]]:
    """``VENUE=URL`` options -> settings overrides pointing that venue's stream (and REST) at the URL.

    The REST base is the same host over http(s), without a ``/v2`` path (Kraken's WebSocket v2 endpoint).
    Raises ValueError naming the bad item.
    """
    overrides: dict[str, dict[str, object]] = {}
    for item in items:
        venue, sep, url = item.partition("=")
        if not sep or venue not in known_venues():
            raise ValueError(f"--url wants VENUE=URL with VENUE in {known_venues()}, got {item!r}")
        rest = url.replace("ws://", "http://").replace("wss://", "https://")
        overrides[venue] = {"ws_url": url, "rest_url": rest.split("/v2")[0].rstrip("/")}
    return overrides
