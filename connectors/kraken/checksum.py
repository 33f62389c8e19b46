"""Kraken book CRC32 (venue-protocols.md §2.3 v2, §2.4 v1).

The string is the top 10 asks (low to high) then the top 10 bids (high to low), each level as price then
qty with the decimal point removed and leading zeros stripped. v1 uses the wire strings (fixed decimals per
pair, which can exceed ``pair_decimals``); v2 sends JSON numbers with trailing zeros dropped, so the values
must be re-formatted to the pair's price/qty precision first.

With a value at exactly ``dp`` decimals, "remove the dot, strip leading zeros" is just the decimal text of
the integer ``value * 10**dp``, which is what the book-based function builds from the book's scaled units.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from decimal import Decimal

from connectors._l2book import L2Book
from connectors.kraken.constants import CHECKSUM_LEVELS

_POW10: list[int] = [10**i for i in range(40)]


def strip_level_text(text: str) -> str:
    """'0.00100000' -> '100000', '45285.2' -> '452852'."""
    return text.replace(".", "").lstrip("0")


def checksum_of_strings(asks: Iterable[Sequence[str]], bids: Iterable[Sequence[str]]) -> int:
    """CRC32 of wire-text levels (best first on each side, already cut to 10)."""
    parts: list[str] = []
    for side in (asks, bids):
        for level in side:
            parts.append(strip_level_text(level[0]))
            parts.append(strip_level_text(level[1]))
    return zlib.crc32("".join(parts).encode("ascii"))


def format_fixed(value: Decimal, dp: int) -> str:
    """A Decimal as fixed-point text with exactly ``dp`` decimals (exact; no rounding expected)."""
    return f"{value:.{dp}f}"


def checksum_of_decimals(
    asks: Iterable[tuple[Decimal, Decimal]], bids: Iterable[tuple[Decimal, Decimal]], price_dp: int, qty_dp: int
) -> int:
    """CRC32 of Decimal levels formatted to the pair's precision (the v2 rule; also the simulators' truth)."""
    return checksum_of_strings(
        ((format_fixed(p, price_dp), format_fixed(q, qty_dp)) for p, q in asks),
        ((format_fixed(p, price_dp), format_fixed(q, qty_dp)) for p, q in bids),
    )


def _at_dp(units: int, scale: int, dp: int) -> int:
    # Units held at `scale` decimals, re-expressed at `dp` decimals. A value with more decimals than `dp`
    # is cut (it could not have come from a well-formed frame; the checksum will then disagree).
    if dp >= scale:
        return units * _POW10[dp - scale]
    return units // _POW10[scale - dp]


def book_checksum(levels: L2Book, price_dp: int, qty_dp: int) -> int:
    """CRC32 of the book's top 10 levels, each value formatted with ``price_dp`` / ``qty_dp`` decimals.

    Computed in the compiled book (this runs on every Kraken update); ``book_checksum_py`` is the same in
    Python, kept as the readable statement of the rule and checked against it in the tests.
    """
    return levels.crc32_top(CHECKSUM_LEVELS, price_dp, qty_dp)


def book_checksum_py(levels: L2Book, price_dp: int, qty_dp: int) -> int:
    ps, qs = levels.price_scale, levels.qty_scale
    parts: list[str] = []
    for side in (levels.asks(CHECKSUM_LEVELS), levels.bids(CHECKSUM_LEVELS)):
        for p, q in side:
            parts.append(str(_at_dp(p, ps, price_dp)))
            parts.append(str(_at_dp(q, qs, qty_dp)))
    return zlib.crc32("".join(parts).encode("ascii"))
