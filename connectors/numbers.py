"""Exact conversions between venue decimal text, Decimal and the books' scaled integer units."""

from __future__ import annotations

import json
from decimal import Decimal
from functools import lru_cache
from typing import Any

_POW10: list[int] = [10**i for i in range(40)]
_LIMIT = 10**27  # below this, Decimal(units).scaleb() is exact in the default 28-digit context


def units_to_decimal(units: int, scale: int) -> Decimal:
    """Exact at any size (Decimal.scaleb rounds beyond the context's 28 digits, so big values go digit by digit)."""
    if -_LIMIT < units < _LIMIT:
        return Decimal(units).scaleb(-scale)
    sign = 1 if units < 0 else 0
    return Decimal((sign, tuple(int(c) for c in str(abs(units))), -scale))


def format_units(units: int, scale: int) -> str:
    """Fixed-point text with exactly ``scale`` decimals: (35130000, 8) -> '0.35130000'."""
    if scale == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    digits = str(abs(units)).rjust(scale + 1, "0")
    return f"{sign}{digits[:-scale]}.{digits[-scale:]}"


def to_units(value: Decimal | str | int, scale: int) -> int:
    """Exact scaled integer; raises ValueError if ``value`` has more decimals than ``scale``."""
    d = value if isinstance(value, Decimal) else Decimal(value)
    if not d.is_finite():
        raise ValueError(f"not a finite decimal: {value!r}")
    sign, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    mantissa = int("".join(map(str, digits)) or "0")
    shift = exp + scale
    if shift >= 0:
        units = mantissa * _POW10[shift] if shift < 40 else mantissa * 10**shift
    else:
        units, rest = divmod(mantissa, 10**-shift)
        if rest:
            raise ValueError(f"{value!r} has more than {scale} decimals")
    return -units if sign else units


@lru_cache(maxsize=8192)
def config_units(value: Decimal, scale: int) -> int:
    """``to_units`` for configuration values (fees, steps, minimums) that recur on hot paths."""
    return to_units(value, scale)


def rescale(units: int, from_scale: int, to_scale: int) -> int:
    """Move units between scales; going down must be exact."""
    if to_scale >= from_scale:
        return units * _POW10[to_scale - from_scale]
    q, r = divmod(units, _POW10[from_scale - to_scale])
    if r:
        raise ValueError(f"{units} at scale {from_scale} does not fit scale {to_scale}")
    return q


def loads_exact(text: str | bytes) -> Any:
    """JSON with every non-integer number parsed as Decimal (HTX and Kraken v2 send numbers, not strings)."""
    return json.loads(text, parse_float=Decimal)


class JsonNumber(str):
    """The exact text of a JSON number with a fraction or exponent, e.g. ``9.121E-7``.

    Venues that send prices as JSON numbers (HTX, Kraken v2) are decoded with their numbers kept as this
    text: the compiled book parses it exactly in one pass (cheaper than a Decimal per number), while a
    quoted string in the same place still reads as the wrong type.
    """

    __slots__ = ()


def loads_numbers_as_text(text: str | bytes) -> Any:
    """JSON with every non-integer number kept as its exact text (a ``JsonNumber``)."""
    return json.loads(text, parse_float=JsonNumber)


def plain(value: Decimal) -> Decimal:
    """The same number without padding zeros and without an exponent: 100.500 -> 100.5, 1E+2 -> 100."""
    d = value.normalize()
    exp = d.as_tuple().exponent
    return d.quantize(Decimal(1)) if isinstance(exp, int) and exp > 0 else d


def floor_units(value: Decimal, scale: int) -> int:
    """Units at ``scale``, rounding toward minus infinity when ``value`` has more decimals."""
    try:
        return to_units(value, scale)
    except ValueError:
        return to_units(value.quantize(Decimal(1).scaleb(-scale), rounding="ROUND_FLOOR"), scale)


def ceil_units(value: Decimal, scale: int) -> int:
    """Units at ``scale``, rounding toward plus infinity when ``value`` has more decimals."""
    try:
        return to_units(value, scale)
    except ValueError:
        return to_units(value.quantize(Decimal(1).scaleb(-scale), rounding="ROUND_CEILING"), scale)
