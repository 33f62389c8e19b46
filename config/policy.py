"""Desk routing policies: a TOML file with a ``[default]`` policy and per-symbol overrides.

```toml
[default]
venues = ["binance", "kraken", "htx"]   # allowed venues, in order of preference
max_level_share = 0.5

[default.fees]                           # taker-fee overrides (replace the venue setting)
kraken = 0.002

[symbols."BTC/USDT"]                     # inherits every field it does not name from [default]
max_child_notional = 250000
fees = { htx = 0.0015 }                  # tables merge key by key: kraken stays 0.002
```

The file is validated whole on load; any problem raises :class:`PolicyError` whose message names the
file, the table and the field. :class:`PolicyStore` holds the running :class:`PolicySet`; ``reload()``
swaps in a new one only if the whole file is valid, so a bad edit never replaces a good policy.
Numbers for money, fees and basis points are exact Decimals (TOML floats are read as Decimal).
``config/routing.example.toml`` documents every field.
"""

from __future__ import annotations

import asyncio
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import structlog
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from config.settings import VENUES, Settings

log = structlog.get_logger(__name__)

_SYMBOL = re.compile(r"^[A-Z0-9]+/[A-Z0-9]+$")
_MERGED_TABLES = ("fees", "priority")  # per-symbol tables that merge key by key with the default's


def _exact(value: object) -> object:
    # Money and rates must not pass through binary floats; a bool is not a number here.
    if isinstance(value, bool | float):
        raise ValueError(
            f"must be a decimal number written exactly (an integer, a TOML float or a string), received {value!r}"
        )
    return value


def _seconds(value: object) -> object:
    if isinstance(value, bool | str):
        raise ValueError(f"must be a number of seconds, received {value!r}")
    return float(value) if isinstance(value, Decimal) else value


ExactDecimal = Annotated[Decimal, BeforeValidator(_exact)]
Seconds = Annotated[float, BeforeValidator(_seconds)]


def _known_venue(venue: str) -> str:
    if venue not in VENUES:
        raise ValueError(f"unknown venue {venue!r}; known venues: {', '.join(VENUES)}")
    return venue


class RoutingPolicy(BaseModel):
    """How the router treats one symbol. Every field has a default; see ``config/routing.example.toml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    venues: tuple[str, ...] = Field(default=VENUES, min_length=1)
    fees: dict[str, Annotated[ExactDecimal, Field(ge=0, lt=1)]] = Field(default_factory=dict)
    priority: dict[str, Annotated[int, Field(strict=True)]] = Field(default_factory=dict)
    max_child_notional: ExactDecimal | None = Field(default=None, gt=0)
    max_level_share: ExactDecimal = Field(default=Decimal(1), gt=0, le=1)
    max_rounds: int = Field(default=3, ge=1, strict=True)
    time_budget_s: Seconds = Field(default=2.0, gt=0)
    slippage_limit_bps: ExactDecimal | None = Field(default=None, ge=0)
    internalise: bool = Field(default=True, strict=True)
    stale_after_s: Seconds | None = Field(default=None, gt=0)
    market_protection_bps: ExactDecimal = Field(default=Decimal(100), gt=0)
    child_timeout_s: Seconds = Field(default=2.0, gt=0)

    @field_validator("venues")
    @classmethod
    def _venues_known_once(cls, venues: tuple[str, ...]) -> tuple[str, ...]:
        for v in venues:
            _known_venue(v)
        dup = sorted({v for v in venues if venues.count(v) > 1})
        if dup:
            raise ValueError(f"venue listed more than once: {', '.join(dup)}")
        return venues

    @field_validator("fees", "priority")
    @classmethod
    def _keys_known(cls, table: dict[str, Any]) -> dict[str, Any]:
        for v in table:
            _known_venue(v)
        return table

    def allows(self, venue: str) -> bool:
        return venue in self.venues

    def fee_for(self, venue: str, fallback: Decimal) -> Decimal:
        """The taker fee override for ``venue``, else ``fallback`` (the venue setting)."""
        return self.fees.get(venue, fallback)

    def priority_for(self, venue: str, fallback: int) -> int:
        """The priority override for ``venue`` (lower wins a tie), else ``fallback``."""
        return self.priority.get(venue, fallback)

    def stale_after_for(self, venue_setting_s: float) -> float:
        return venue_setting_s if self.stale_after_s is None else self.stale_after_s


class PolicyError(ValueError):
    """A routing file that cannot be used; the message names the file, the table and the field."""


@dataclass(frozen=True, slots=True)
class PolicySet:
    """The default policy and the per-symbol ones (already merged over the default)."""

    default: RoutingPolicy = field(default_factory=RoutingPolicy)
    symbols: Mapping[str, RoutingPolicy] = field(default_factory=dict)
    source: str | None = None

    def for_symbol(self, symbol: str) -> RoutingPolicy:
        return self.symbols.get(symbol, self.default)


def load_policies(path: str | os.PathLike[str]) -> PolicySet:
    """Read and validate a routing file; raise :class:`PolicyError` naming what is wrong where."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{name}: cannot read the routing file: {exc.strerror or exc}") from exc
    return parse_policies(text, name)


def parse_policies(text: str, source: str = "<routing>") -> PolicySet:
    """Validate the routing TOML in ``text``; ``source`` names it in errors."""
    try:
        doc = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: invalid TOML: {exc}") from exc  # tomllib's text has the line and column
    unknown = sorted(set(doc) - {"default", "symbols"})
    if unknown:
        raise PolicyError(
            f"{source}: unknown top-level key {', '.join(repr(k) for k in unknown)}; "
            'expected only a [default] table and [symbols."BASE/QUOTE"] tables'
        )
    base = _table(doc.get("default", {}), source, "[default]")
    default = _validate(base, source, "[default]")
    symbols_doc = _table(doc.get("symbols", {}), source, "[symbols]")
    symbols: dict[str, RoutingPolicy] = {}
    for symbol, raw in symbols_doc.items():
        where = f'[symbols."{symbol}"]'
        if not _SYMBOL.match(symbol):
            raise PolicyError(f'{source}: {where}: symbol must be written BASE/QUOTE in capitals, e.g. "BTC/USDT"')
        override = _table(raw, source, where)
        merged = {**base, **override}
        for key in _MERGED_TABLES:
            if isinstance(base.get(key), dict) and isinstance(override.get(key), dict):
                merged[key] = {**base[key], **override[key]}
        symbols[symbol] = _validate(merged, source, where, blame=set(override))
    return PolicySet(default=default, symbols=symbols, source=source)


def _table(value: object, source: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PolicyError(f"{source}: {where} must be a table, received {type(value).__name__} {value!r}")
    return value


def _validate(raw: dict[str, Any], source: str, where: str, blame: set[str] | None = None) -> RoutingPolicy:
    try:
        return RoutingPolicy.model_validate(raw)
    except ValidationError as exc:
        problems = [_describe(err) for err in exc.errors()]
        if blame is not None:
            # In a symbol table, report the fields it sets first (an inherited field is the default's).
            problems.sort(key=lambda p: p[0].split(".")[0].split("[")[0] not in blame)
        lines = "; ".join(f"field '{loc}': {msg}" for loc, msg in problems)
        raise PolicyError(f"{source}: {where}: {lines}") from None


def _describe(err: Any) -> tuple[str, str]:
    loc = ""
    for part in err["loc"]:
        if isinstance(part, int):
            loc += f"[{part}]"
        elif part != "[key]":
            loc += f".{part}" if loc else str(part)
    msg: str = err["msg"]
    if err["type"] == "extra_forbidden":
        allowed = ", ".join(RoutingPolicy.model_fields)
        return loc, f"unknown field (allowed fields: {allowed})"
    msg = msg.removeprefix("Value error, ").replace("Input should be", "must be")
    if "input" in err and err["type"] != "value_error":
        given = err["input"]
        msg = f"{msg}, received {given if isinstance(given, Decimal) else repr(given)}"
    return loc, msg


class PolicyStore:
    """The running policy set, reloadable from its file; an invalid file never replaces a valid set."""

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        """Load ``path`` (``None``: the built-in defaults). An invalid file at start-up raises :class:`PolicyError`."""
        self.path = None if path is None else Path(path)
        self.version = 0
        self.last_error: str | None = None
        self._signature = self._stat()
        self._current = PolicySet() if self.path is None else load_policies(self.path)
        self.version = 1
        log.info(
            "routing_policy_loaded", path=str(self.path), version=self.version, symbols=sorted(self._current.symbols)
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> PolicyStore:
        return cls(settings.routing_file)

    @property
    def current(self) -> PolicySet:
        return self._current

    def for_symbol(self, symbol: str) -> RoutingPolicy:
        return self._current.for_symbol(symbol)

    def reload(self) -> bool:
        """Load the file again; on success install it and bump :attr:`version`, else keep the running set.

        Returns whether the new file was installed; the error is in :attr:`last_error` and the log.
        """
        if self.path is None:
            return False
        self._signature = self._stat()
        try:
            fresh = load_policies(self.path)
        except PolicyError as exc:
            self.last_error = str(exc)
            log.error("routing_policy_rejected", path=str(self.path), error=self.last_error, kept_version=self.version)
            return False
        self._current = fresh
        self.last_error = None
        self.version += 1
        log.info("routing_policy_reloaded", path=str(self.path), version=self.version, symbols=sorted(fresh.symbols))
        return True

    def changed(self) -> bool:
        """Whether the file's modification time or size differs from the last load attempt."""
        return self.path is not None and self._stat() != self._signature

    async def watch(self, interval_s: float) -> None:
        """Reload whenever the file changes on disk, checking every ``interval_s`` seconds, until cancelled."""
        if self.path is None or interval_s <= 0:
            return
        while True:
            await asyncio.sleep(interval_s)
            if self.changed():
                self.reload()

    def _stat(self) -> tuple[int, int] | None:
        if self.path is None:
            return None
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)
