"""Kill switch: halt a symbol, a venue or everything, by hand or when the consolidated mid jumps.

A halt takes effect the moment :meth:`KillSwitch.halt` is entered: the halt is recorded before any
callback runs, so a router that checks :meth:`KillSwitch.check` before each child sees it at its next
check. The registered ``on_halt`` callbacks (the router's "cancel my working children in this scope")
are then awaited together; one that fails is logged and does not stop the others.

Precedence of :meth:`KillSwitch.check`: everything, then the symbol, then the venue.

The anomaly rule trips a symbol halt when the consolidated mid moves more than ``max_move_pct`` percent
within ``window_s`` seconds: for each new mid ``m`` at ``t`` it compares against every mid seen in
``[t - window, t]`` (both ends included), measuring a rise from the earlier low, ``(m - low) / low``, and a
fall from the earlier high, ``(high - m) / high``. Monotonic queues of the window's lows and highs make
that O(1) amortised per observation; the comparisons are exact Decimal products, no division.

Time comes in as integers of nanoseconds (``now_ns``) or from the injected clock; nothing here reads
the system clock on its own.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, ClassVar, Literal

import structlog

from router.reasons import Rejection, RejectReason

if TYPE_CHECKING:
    from config.settings import Settings

log = structlog.get_logger(__name__)

ScopeKind = Literal["all", "symbol", "venue"]
HaltCallback = Callable[["Scope"], Awaitable[object]]
_HUNDRED = Decimal(100)
_PREC = 400


@dataclass(frozen=True, slots=True)
class Scope:
    """What a halt covers: ``Scope.ALL``, ``Scope.symbol("BTC/USDT")`` or ``Scope.venue("kraken")``."""

    kind: ScopeKind
    name: str = ""

    ALL: ClassVar[Scope]

    def __post_init__(self) -> None:
        if self.kind not in ("all", "symbol", "venue"):
            raise ValueError(f"scope kind must be all, symbol or venue, received {self.kind!r}")
        if (self.kind == "all") != (self.name == ""):
            raise ValueError(
                f"scope {self.kind!r} needs {'no' if self.kind == 'all' else 'a'} name, received {self.name!r}"
            )

    @classmethod
    def symbol(cls, symbol: str) -> Scope:
        return cls("symbol", symbol)

    @classmethod
    def venue(cls, venue: str) -> Scope:
        return cls("venue", venue)

    @classmethod
    def parse(cls, text: str) -> Scope:
        """``"all"``, ``"symbol:BTC/USDT"`` or ``"venue:kraken"`` (the form :meth:`__str__` writes)."""
        if text.strip().lower() == "all":
            return cls.ALL
        kind, sep, name = text.partition(":")
        if not sep or kind.strip().lower() not in ("symbol", "venue") or not name.strip():
            raise ValueError(f"scope must be 'all', 'symbol:<SYMBOL>' or 'venue:<VENUE>', received {text!r}")
        return cls(kind.strip().lower(), name.strip())  # type: ignore[arg-type]

    def covers(self, symbol: str | None = None, venue: str | None = None) -> bool:
        """Whether an order on ``symbol`` (and, if given, ``venue``) falls under this scope."""
        if self.kind == "all":
            return True
        if self.kind == "symbol":
            return symbol == self.name
        return venue == self.name

    def __str__(self) -> str:
        return "all" if self.kind == "all" else f"{self.kind}:{self.name}"


Scope.ALL = Scope("all")

_REASON_OF: dict[str, RejectReason] = {
    "all": RejectReason.HALTED_ALL,
    "symbol": RejectReason.HALTED_SYMBOL,
    "venue": RejectReason.HALTED_VENUE,
}


@dataclass(frozen=True, slots=True)
class Halt:
    """One active halt."""

    scope: Scope
    reason: str
    by: str
    at_ns: int

    @property
    def reject_reason(self) -> RejectReason:
        return _REASON_OF[self.scope.kind]

    def rejection(self) -> Rejection:
        where = "all symbols and venues" if self.scope.kind == "all" else f"{self.scope.kind} {self.scope.name}"
        return Rejection(self.reject_reason, f"{where} by {self.by}: {self.reason.rstrip('.')}")

    def as_dict(self) -> dict[str, object]:
        return {"scope": str(self.scope), "reason": self.reason, "by": self.by, "at_ns": self.at_ns}


@dataclass(frozen=True, slots=True)
class AnomalyRule:
    """Halt a symbol whose mid moves more than ``max_move_pct`` percent within ``window_s`` seconds."""

    max_move_pct: Decimal
    window_s: float

    def __post_init__(self) -> None:
        if not isinstance(self.max_move_pct, Decimal) or self.max_move_pct <= 0:
            raise ValueError(f"max_move_pct must be a Decimal > 0, received {self.max_move_pct!r}")
        if self.window_s <= 0:
            raise ValueError(f"window_s must be > 0, received {self.window_s!r}")

    @property
    def window_ns(self) -> int:
        return int(Decimal(repr(self.window_s)) * 1_000_000_000)

    @classmethod
    def from_settings(cls, settings: Settings) -> AnomalyRule | None:
        if settings.kill_anomaly_move_pct is None:
            return None
        return cls(settings.kill_anomaly_move_pct, settings.kill_anomaly_window_s)


@dataclass(slots=True)
class _Window:
    # (t_ns, mid) with increasing mids: the front is the window's low.
    lows: deque[tuple[int, Decimal]] = field(default_factory=deque)
    # (t_ns, mid) with decreasing mids: the front is the window's high.
    highs: deque[tuple[int, Decimal]] = field(default_factory=deque)
    last_ns: int | None = None


class AnomalyDetector:
    """The window logic of :class:`AnomalyRule`, per symbol, without side effects."""

    def __init__(self, rule: AnomalyRule) -> None:
        self.rule = rule
        self._window_ns = rule.window_ns
        self._windows: dict[str, _Window] = {}

    def observe(self, symbol: str, mid: Decimal, now_ns: int) -> str | None:
        """Record ``mid`` at ``now_ns``; a description of the move if it breaks the rule, else ``None``.

        Observations of one symbol must come in time order (an older one is ignored).
        """
        if not isinstance(mid, Decimal) or not mid.is_finite() or mid <= 0:
            raise ValueError(f"mid must be a positive finite Decimal, received {mid!r}")
        w = self._windows.get(symbol)
        if w is None:
            w = self._windows[symbol] = _Window()
        if w.last_ns is not None and now_ns < w.last_ns:
            log.warning("anomaly_out_of_order", symbol=symbol, now_ns=now_ns, last_ns=w.last_ns)
            return None
        w.last_ns = now_ns
        start = now_ns - self._window_ns
        while w.lows and w.lows[0][0] < start:
            w.lows.popleft()
        while w.highs and w.highs[0][0] < start:
            w.highs.popleft()
        found: str | None = None
        pct = self.rule.max_move_pct
        with localcontext(prec=_PREC):
            if w.lows:
                t_low, low = w.lows[0]
                if (mid - low) * _HUNDRED > low * pct:
                    found = self._describe(symbol, low, mid, now_ns - t_low)
            if found is None and w.highs:
                t_high, high = w.highs[0]
                if (high - mid) * _HUNDRED > high * pct:
                    found = self._describe(symbol, high, mid, now_ns - t_high)
        while w.lows and w.lows[-1][1] >= mid:
            w.lows.pop()
        w.lows.append((now_ns, mid))
        while w.highs and w.highs[-1][1] <= mid:
            w.highs.pop()
        w.highs.append((now_ns, mid))
        return found

    def reset(self, symbol: str | None = None) -> None:
        """Forget the window of ``symbol`` (of every symbol if ``None``)."""
        if symbol is None:
            self._windows.clear()
        else:
            self._windows.pop(symbol, None)

    def _describe(self, symbol: str, before: Decimal, after: Decimal, dt_ns: int) -> str:
        move = ((after - before) * _HUNDRED / before).quantize(Decimal("0.01"))
        return (
            f"{symbol} mid moved {move:+}% from {before} to {after} in {dt_ns / 1e9:g} s "
            f"(limit {self.rule.max_move_pct}% in {self.rule.window_s:g} s)"
        )


class KillSwitch:
    """Active halts, the callbacks to run when one trips, and the optional price-anomaly rule."""

    def __init__(self, anomaly: AnomalyRule | None = None, *, clock: Callable[[], int] = time.time_ns) -> None:
        self._clock = clock
        self._halts: dict[Scope, Halt] = {}
        self._callbacks: list[HaltCallback] = []
        self.detector = AnomalyDetector(anomaly) if anomaly is not None else None

    # -- state ---------------------------------------------------------------------------------------

    def check(self, symbol: str, venue: str | None = None) -> RejectReason | None:
        """The halt that stops an order on ``symbol`` (child on ``venue``), or ``None``."""
        found = self.halt_for(symbol, venue)
        return None if found is None else found.reject_reason

    def rejection(self, symbol: str, venue: str | None = None) -> Rejection | None:
        """Like :meth:`check`, with the detail naming the scope, who halted it and why."""
        found = self.halt_for(symbol, venue)
        return None if found is None else found.rejection()

    def halt_for(self, symbol: str, venue: str | None = None) -> Halt | None:
        if not self._halts:
            return None
        found = self._halts.get(Scope.ALL) or self._halts.get(Scope("symbol", symbol))
        if found is None and venue is not None:
            found = self._halts.get(Scope("venue", venue))
        return found

    def is_halted(self, scope: Scope) -> bool:
        return scope in self._halts

    def halted_venues(self) -> frozenset[str]:
        """Venues halted on their own (for a planner to leave out)."""
        return frozenset(s.name for s in self._halts if s.kind == "venue")

    def halts(self) -> list[Halt]:
        """Active halts, oldest first."""
        return sorted(self._halts.values(), key=lambda h: h.at_ns)

    # -- changes -------------------------------------------------------------------------------------

    def on_halt(self, callback: HaltCallback) -> Callable[[], None]:
        """Await ``callback(scope)`` whenever a halt trips; returns a function that unregisters it."""
        self._callbacks.append(callback)

        def unregister() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unregister

    async def halt(self, scope: Scope, reason: str, by: str, *, now_ns: int | None = None) -> Halt:
        """Halt ``scope`` now, then await every ``on_halt`` callback with it.

        Halting a scope that is already halted keeps the first record but runs the callbacks again
        (an operator repeating a halt wants the cancels retried).
        """
        if not reason.strip() or not by.strip():
            raise ValueError(f"a halt needs a reason and who halted it, received reason={reason!r} by={by!r}")
        existing = self._halts.get(scope)
        if existing is None:
            at = self._clock() if now_ns is None else now_ns
            existing = self._halts[scope] = Halt(scope, reason, by, at)
            log.warning("kill_switch_halt", scope=str(scope), reason=reason, by=by, at_ns=at)
        else:
            log.warning(
                "kill_switch_halt_repeated",
                scope=str(scope),
                reason=reason,
                by=by,
                first_reason=existing.reason,
                first_by=existing.by,
            )
        await self._run_callbacks(scope)
        return existing

    def resume(self, scope: Scope, by: str = "operator") -> bool:
        """Lift the halt of exactly ``scope``; ``False`` if it was not halted.

        Resuming a symbol (or everything) forgets the anomaly window of that symbol (of all), so the
        move that tripped the halt does not trip it again.
        """
        found = self._halts.pop(scope, None)
        if found is None:
            log.info("kill_switch_resume_not_halted", scope=str(scope), by=by)
            return False
        if self.detector is not None and scope.kind != "venue":
            self.detector.reset(scope.name if scope.kind == "symbol" else None)
        log.warning("kill_switch_resume", scope=str(scope), by=by, halted_by=found.by, halted_reason=found.reason)
        return True

    async def observe_mid(self, symbol: str, mid: Decimal, now_ns: int) -> Halt | None:
        """Feed a consolidated mid; halts ``symbol`` (by ``"anomaly"``) and returns the halt if it moved too far."""
        if self.detector is None:
            return None
        move = self.detector.observe(symbol, mid, now_ns)
        if move is None:
            return None
        scope = Scope.symbol(symbol)
        if scope in self._halts:
            return None
        return await self.halt(scope, move, "anomaly", now_ns=now_ns)

    async def _run_callbacks(self, scope: Scope) -> None:
        callbacks = list(self._callbacks)
        if not callbacks:
            return
        results = await asyncio.gather(*(_call(cb, scope) for cb in callbacks), return_exceptions=True)
        for cb, result in zip(callbacks, results, strict=True):
            if isinstance(result, BaseException):
                log.error(
                    "kill_switch_callback_failed",
                    scope=str(scope),
                    callback=getattr(cb, "__qualname__", repr(cb)),
                    error=repr(result),
                )


async def _call(callback: HaltCallback, scope: Scope) -> object:
    # A callback that raises before returning its awaitable fails alone, like one that raises inside.
    return await callback(scope)
