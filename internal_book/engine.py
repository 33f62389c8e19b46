"""MatchingEngine: the public engine. Decimal edge over the compiled integer core (``_engine.c``).

Commands in, events out; no I/O and no clock. Prices are scaled to integer ticks, quantities to
integer lots (and quote amounts to tick*step units) exactly; a value off the grid is passed to the
core as OFFGRID so the core rejects it with the same filter failure as any other bad value.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from config import Instrument

try:
    from internal_book import _engine
except ImportError as exc:  # pragma: no cover - only without a build
    raise ImportError(
        "internal_book._engine is not built; run `.venv/bin/python setup.py build_ext --inplace` "
        "(or `pip install -e .`)"
    ) from exc
from domain import OrderSide, OrderStatus
from internal_book import events as ev
from internal_book.commands import (
    AmendOrder,
    CancelOrder,
    CancelReplace,
    Command,
    NewOrder,
    Party,
    SetReferencePrice,
)
from internal_book.errors import RejectReason, error_of
from internal_book.events import Preview
from internal_book.orders import (
    PRICED,
    SIDE_CODE,
    SIDES,
    STATUSES,
    STP_CODE,
    STP_MODES,
    TIF_CODE,
    TIFS,
    TYPE_CODE,
    TYPES,
)

OFFGRID: int = _engine.OFFGRID
_LIMIT = 2**62  # beyond this a scaled value is treated as off the grid (int64 core)

# One packed event record of the core (``drain_packed``): seq, ts, kind, sym, order id, a..f, g..j, clid
# index; the meaning of a..j depends on the kind (see ``MatchingEngine._event``).
EVENT_RECORD = struct.Struct("<qqiiqqqqqqqiiiiq")
assert EVENT_RECORD.size == _engine.EVENT_RECORD_SIZE
_NONE_INT: int = _engine.NONE
_SIDES, _STATUSES, _TYPES, _TIFS, _STPS = SIDES, STATUSES, TYPES, TIFS, STP_MODES

_new = tuple.__new__

OP_ACCOUNT, OP_NEW, OP_CANCEL, OP_AMEND, OP_REFPX, OP_CANCEL_REPLACE = 0, 1, 2, 3, 4, 5


def scale(value: Decimal | None, unit: Decimal) -> int | None:
    """Exact integer count of ``unit`` in ``value``; OFFGRID if not a whole multiple or too large."""
    if value is None:
        return None
    if isinstance(value, float):
        raise TypeError("binary floats are not accepted for prices or quantities; use Decimal")
    try:
        q, r = divmod(value, unit)
    except (InvalidOperation, ArithmeticError):
        return OFFGRID
    if r != 0 or not -_LIMIT < q < _LIMIT:
        return OFFGRID
    return int(q)


def _ceil_div(a: Decimal, b: Decimal) -> int:
    q, r = divmod(a, b)
    return int(q) + (1 if r > 0 else 0)


@dataclass(frozen=True, slots=True)
class SymbolScale:
    """How one instrument's decimals map to the core's integers."""

    index: int
    instrument: Instrument
    tick: Decimal
    step: Decimal
    unit: Decimal  # tick * step: the quote amount of one lot at one tick

    def core_rules(self) -> tuple[int | None, ...]:
        i = self.instrument
        mkt_step = i.market_step_size or i.step_size
        if mkt_step % i.step_size != 0:
            raise ValueError(f"{i.symbol}: market step {mkt_step} is not a multiple of step {i.step_size}")
        return (
            _ceil_div(i.min_price, self.tick),
            int(i.max_price // self.tick) if i.max_price > 0 else None,
            _ceil_div(i.min_qty, self.step),
            int(i.max_qty // self.step) if i.max_qty > 0 else None,
            int(mkt_step / self.step),
            int(i.market_max_qty // self.step) if i.market_max_qty > 0 else None,
            _ceil_div(i.min_notional, self.unit),
            int(i.max_notional // self.unit) if i.max_notional > 0 else None,
            1 if i.apply_min_to_market else 0,
            1 if i.trading else 0,
        )


class MatchingEngine:
    """Price-time-priority book for many symbols with Binance spot order semantics.

    Use ``apply(command)`` (or the named shortcuts) and read the returned events. Every applied
    command is journaled, so ``rebuild(instruments, engine.journal)`` reproduces the engine;
    ``snapshot()``/``restore()`` do the same from state.
    """

    def __init__(self, instruments: Iterable[Instrument]) -> None:
        self._instruments = tuple(instruments)
        self._scales: dict[str, SymbolScale] = {}
        for n, inst in enumerate(self._instruments):
            if inst.tick_size <= 0 or inst.step_size <= 0:
                raise ValueError(f"{inst.symbol}: the internal book needs a positive tick and step size")
            self._scales[inst.symbol] = SymbolScale(
                n, inst, inst.tick_size, inst.step_size, inst.tick_size * inst.step_size
            )
        self._by_index = tuple(self._scales.values())
        self._core = _engine.Engine(tuple(s.core_rules() for s in self._by_index))
        self._accounts: dict[tuple[Party, Party], int] = {}
        self._account_names: list[tuple[Party, Party]] = []
        self._journal: list[Command | tuple[Any, ...]] = []

    # ---- identities --------------------------------------------------------------------------
    def account_key(self, tenant: Party, account: Party) -> int:
        """Integer STP group of (tenant, account) for pre-encoded commands; journaled when new."""
        if (tenant, account) not in self._accounts:
            self._journal.append((OP_ACCOUNT, tenant, account))
        return self._acct(tenant, account)

    def _acct(self, tenant: Party, account: Party) -> int:
        key = (tenant, account)
        k = self._accounts.get(key)
        if k is None:
            k = len(self._account_names)
            self._accounts[key] = k
            self._account_names.append(key)
        return k

    def symbol_index(self, symbol: str) -> int:
        s = self._scales.get(symbol)
        return -1 if s is None else s.index

    @property
    def journal(self) -> tuple[Command | tuple[Any, ...], ...]:
        """Every input applied since construction (or since ``clear_journal``), in order."""
        return tuple(self._journal)

    def clear_journal(self) -> None:
        """Forget the journal, e.g. once a snapshot covering it is durable."""
        self._journal.clear()

    # ---- commands ----------------------------------------------------------------------------
    def apply(self, cmd: Command) -> list[ev.Event]:
        """Apply one command; return the events it caused, in sequence order."""
        raw = self.encode(cmd)
        self._core.process(raw)
        self._journal.append(cmd)
        return self._events(self._core.drain(), _symbol_of(cmd))

    def submit(self, order: NewOrder) -> list[ev.Event]:
        return self.apply(order)

    def cancel(self, cmd: CancelOrder) -> list[ev.Event]:
        return self.apply(cmd)

    def amend(self, cmd: AmendOrder) -> list[ev.Event]:
        return self.apply(cmd)

    def cancel_replace(self, cmd: CancelReplace) -> list[ev.Event]:
        return self.apply(cmd)

    def set_reference_price(self, symbol: str, price: Decimal, ts: int = 0) -> list[ev.Event]:
        return self.apply(SetReferencePrice(symbol, price, ts))

    def submit_raw(self, raw_command: tuple[Any, ...]) -> None:
        """One pre-encoded command tuple; events stay buffered (see ``submit_many``)."""
        self._core.process(raw_command)
        self._journal.append(raw_command)

    def submit_many(self, raw_commands: Sequence[tuple[Any, ...]]) -> None:
        """Bulk entry of pre-encoded command tuples (see ``encode``); events stay buffered in the
        core until ``drain_events()`` or ``discard_events()``. Same core code path as ``apply``."""
        self._core.process_many(raw_commands)
        self._journal.extend(raw_commands)

    def drain_events(self) -> list[ev.Event]:
        """Buffered events (from the bulk entry points) as Event objects."""
        return self._events(self._core.drain(), "")

    def drain_records(self) -> list[tuple[Any, ...]]:
        """Buffered events as raw 16-tuples (seq, ts, kind, sym, order id, a..f, g..j, clid)."""
        return self._core.drain()

    def drain_packed(self) -> tuple[bytes, list[str]]:
        """Buffered events as packed ``EVENT_RECORD`` bytes plus the client ids they reference."""
        return self._core.drain_packed()

    def decode_packed(self, buf: bytes, clids: list[str]) -> list[ev.Event]:
        """Event objects from ``drain_packed`` output (the same objects ``drain_events`` gives)."""
        none = _NONE_INT
        rows = []
        for r in EVENT_RECORD.iter_unpack(buf):
            vals = [None if v == none else v for v in r[4:11]]
            rows.append(
                (r[0], r[1], r[2], r[3], *vals, r[11], r[12], r[13], r[14], None if r[15] < 0 else clids[r[15]])
            )
        return self._events(rows, "")

    def discard_events(self) -> int:
        """Drop buffered events without building objects; returns how many there were."""
        return self._core.discard_events()

    # ---- encoding ----------------------------------------------------------------------------
    def encode(self, cmd: Command) -> tuple[Any, ...]:
        """The core's tuple form of ``cmd`` (registers the account if new)."""
        if isinstance(cmd, NewOrder):
            s = self._scales.get(cmd.symbol)
            acct = self._acct(cmd.tenant, cmd.account)
            if s is None:
                return (
                    OP_NEW,
                    -1,
                    acct,
                    SIDE_CODE[cmd.side],
                    TYPE_CODE[cmd.order_type],
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    STP_CODE[cmd.stp_mode],
                    cmd.client_order_id,
                    cmd.ts,
                    None,
                )
            new = (
                OP_NEW,
                s.index,
                acct,
                SIDE_CODE[cmd.side],
                TYPE_CODE[cmd.order_type],
                None if cmd.time_in_force is None else TIF_CODE[cmd.time_in_force],
                scale(cmd.price, s.tick),
                scale(cmd.quantity, s.step),
                scale(cmd.quote_order_qty, s.unit),
                scale(cmd.stop_price, s.tick),
                _clamp(cmd.trailing_delta),
                STP_CODE[cmd.stp_mode],
                cmd.client_order_id,
                cmd.ts,
                scale(cmd.protect_price, s.tick),
            )
            return (*new, 1) if cmd.remainder else new  # the core reads a 16th item as the remainder flag
        if isinstance(cmd, CancelOrder):
            return (
                OP_CANCEL,
                self.symbol_index(cmd.symbol),
                self._acct(cmd.tenant, cmd.account),
                cmd.order_id,
                cmd.client_order_id,
                cmd.ts,
            )
        if isinstance(cmd, AmendOrder):
            s = self._scales.get(cmd.symbol)
            tick, step = (s.tick, s.step) if s else (Decimal(1), Decimal(1))
            return (
                OP_AMEND,
                self.symbol_index(cmd.symbol),
                self._acct(cmd.tenant, cmd.account),
                cmd.order_id,
                cmd.client_order_id,
                scale(cmd.new_price, tick),
                scale(cmd.new_quantity, step),
                cmd.ts,
            )
        if isinstance(cmd, SetReferencePrice):
            s = self._scales.get(cmd.symbol)
            return (OP_REFPX, -1 if s is None else s.index, OFFGRID if s is None else scale(cmd.price, s.tick), cmd.ts)
        if isinstance(cmd, CancelReplace):
            c = self.encode(cmd.cancel)
            return (OP_CANCEL_REPLACE, *c[1:], self.encode(cmd.new_order))
        raise TypeError(f"unknown command {cmd!r}")

    # ---- events ------------------------------------------------------------------------------
    def _events(self, records: list[tuple[Any, ...]], fallback_symbol: str) -> list[ev.Event]:
        return [self._event(r, fallback_symbol) for r in records]

    def _event(self, r: tuple[Any, ...], fallback_symbol: str) -> ev.Event:
        # positional tuple.__new__: events are NamedTuples and this runs once per event
        seq, ts, kind, sym, oid, a, b, c, d, e, f, g, h, i, j, clid = r
        # None only for a rejection naming no known symbol, and a rejection uses no scale (no check per event)
        s: Any = self._by_index[sym] if sym >= 0 else None
        name = s.instrument.symbol if s else fallback_symbol
        if kind == 2:
            return _new(
                ev.Trade, (seq, ts, name, d, a * s.tick, b * s.step, oid, c, _SIDES[g], _STATUSES[h], _STATUSES[i])
            )
        if kind == 1:
            tenant, account = self._account_names[e]
            return _new(
                ev.OrderAccepted,
                (
                    seq,
                    ts,
                    name,
                    oid,
                    clid,
                    tenant,
                    account,
                    _SIDES[g],
                    _TYPES[h],
                    None if i < 0 else _TIFS[i],
                    None if a is None else a * s.tick,
                    None if b is None else b * s.step,
                    None if c is None else c * s.unit,
                    None if d is None else d * s.tick,
                    f,
                    _STPS[j],
                    OrderStatus.NEW,
                ),
            )
        if kind == 3:
            return _new(ev.OrderCancelled, (seq, ts, name, oid, clid, a * s.step, b * s.step, OrderStatus.CANCELED))
        if kind == 4:
            return _new(
                ev.OrderExpired,
                (seq, ts, name, oid, a * s.step, b * s.step, None if c is None else c * s.unit, _STATUSES[g]),
            )
        if kind == 5:
            return _new(ev.StopTriggered, (seq, ts, name, oid, a * s.tick))
        if kind == 6:
            reason = RejectReason(g)
            code, msg = error_of(reason, h)
            return _new(ev.OrderRejected, (seq, ts, name, clid, oid, reason, code, msg, OrderStatus.REJECTED))
        if kind == 7:
            return _new(ev.OrderAmended, (seq, ts, name, oid, a * s.tick, b * s.step, c * s.step, bool(g)))
        if kind == 8:
            return _new(
                ev.OrderReleased, (seq, ts, name, oid, a * s.step, b * s.step, None if c is None else c * s.unit)
            )
        raise ValueError(f"unknown event kind {kind}")

    # ---- router hook -------------------------------------------------------------------------
    def preview(self, order: NewOrder) -> Preview:
        """Fills ``order`` would get against the book now (no state change, no stop cascades)."""
        s = self._scales[order.symbol]
        limit = order.price if order.order_type in PRICED else None
        if order.protect_price is not None:
            p = order.protect_price
            limit = p if limit is None else (min(limit, p) if order.side == OrderSide.BUY else max(limit, p))
        acct = self._accounts.get((order.tenant, order.account), -1)
        quote = None if order.quote_order_qty is None else int(order.quote_order_qty // s.unit)
        lots = None if order.quantity is None else int(order.quantity // s.step)
        rows = self._core.preview(
            s.index,
            SIDE_CODE[order.side],
            acct,
            STP_CODE[order.stp_mode],
            None
            if limit is None
            else int(limit // s.tick)
            if order.side == OrderSide.BUY
            else _ceil_div(limit, s.tick),
            lots,
            quote,
        )
        fills = tuple((px * s.tick, q * s.step, oid) for px, q, oid in rows)
        filled = sum((q for _, q, _ in fills), Decimal(0))
        return Preview(fills, filled, None if order.quantity is None else order.quantity - filled)

    # ---- state ---------------------------------------------------------------------------------
    def best_prices(self, symbol: str) -> tuple[Decimal | None, Decimal | None]:
        s = self._scales[symbol]
        bid, ask = self._core.top(s.index)
        return (None if bid is None else bid * s.tick, None if ask is None else ask * s.tick)

    def validate_internal_state(self) -> None:
        """Raise AssertionError if any book invariant is broken (sorted, uncrossed, totals, indexes)."""
        self._core.validate()

    def state(self) -> dict[str, Any]:
        """Canonical, engine-independent state: the same dict as ``ReferenceEngine.state()``."""
        seq, next_oid, next_tid, syms = self._core.dump()
        out = {}
        for s, (last, bids, asks, stops) in zip(self._by_index, syms, strict=True):
            out[s.instrument.symbol] = {
                "last": ev.canonical(None if last is None else last * s.tick),
                "bids": [self._resting_row(s, r) for r in bids],
                "asks": [self._resting_row(s, r) for r in asks],
                "stops": [self._stop_row(s, r) for r in stops],
            }
        return {
            "seq": seq,
            "next_order_id": next_oid,
            "next_trade_id": next_tid,
            "symbols": {k: out[k] for k in sorted(out)},
        }

    def state_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.state(), sort_keys=True).encode()).hexdigest()

    def _common(self, s: SymbolScale, r: tuple[Any, ...]) -> list[Any]:
        oid, acct, clid, side, typ, tif, px = r[:7]
        tenant, account = self._account_names[acct]
        return [
            oid,
            tenant,
            account,
            clid,
            SIDES[side].name,
            TYPES[typ].name,
            None if tif < 0 else TIFS[tif].name,
            ev.canonical(None if px is None else px * s.tick),
            ev.canonical(r[7] * s.step),
        ]

    def _resting_row(self, s: SymbolScale, r: tuple[Any, ...]) -> list[Any]:
        return [
            *self._common(s, r),
            ev.canonical(r[8] * s.step),
            ev.canonical(r[9] * s.step),
            STP_MODES[r[10]].name,
            r[11],
        ]

    def _stop_row(self, s: SymbolScale, r: tuple[Any, ...]) -> list[Any]:
        stop, trail, active, extreme = r[12], r[13], r[14], r[15]
        return [
            *self._common(s, r),
            ev.canonical(None if stop is None else stop * s.tick),
            trail,
            bool(active),
            ev.canonical(None if extreme is None else extreme * s.tick),
            STP_MODES[r[10]].name,
            r[11],
        ]

    # ---- snapshot / restore / rebuild ----------------------------------------------------------
    def snapshot(self) -> bytes:
        """Whole engine state as bytes (buffered events must have been drained)."""
        doc = {
            "version": 1,
            "symbols": [s.instrument.symbol for s in self._by_index],
            "accounts": [list(a) for a in self._account_names],
            "core": self._core.dump(),
        }
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def restore(cls, blob: bytes, instruments: Iterable[Instrument]) -> MatchingEngine:
        """Engine continuing exactly where the snapshotted one stopped."""
        doc = json.loads(blob)
        eng = cls(instruments)
        if doc["symbols"] != [s.instrument.symbol for s in eng._by_index]:
            raise ValueError("snapshot symbols differ from the instruments given")
        for tenant, account in doc["accounts"]:
            eng._acct(tenant, account)
        eng._core.load(_tuples(doc["core"]))
        return eng

    @classmethod
    def rebuild(cls, instruments: Iterable[Instrument], journal: Iterable[Command | tuple[Any, ...]]) -> MatchingEngine:
        """Replay a journal of inputs into a fresh engine (events are discarded)."""
        eng = cls(instruments)
        eng.replay(journal)
        return eng

    @classmethod
    def recover(
        cls, blob: bytes, instruments: Iterable[Instrument], journal_tail: Iterable[Command | tuple[Any, ...]]
    ) -> MatchingEngine:
        """Restart: restore the last durable snapshot, then replay the inputs journaled after it."""
        eng = cls.restore(blob, instruments)
        eng.replay(journal_tail)
        return eng

    def replay(self, journal: Iterable[Command | tuple[Any, ...]]) -> None:
        """Apply journaled inputs in order, dropping their events (they were published already)."""
        for cmd in journal:
            if isinstance(cmd, tuple) and cmd[0] == OP_ACCOUNT:
                self.account_key(cmd[1], cmd[2])
            elif isinstance(cmd, tuple):
                self.submit_raw(cmd)
            else:
                self.apply(cmd)
        self.discard_events()


def _clamp(delta: int | None) -> int | None:
    # out-of-range deltas still reach the core, which rejects them with TRAILING_DELTA
    return None if delta is None else max(-(2**31), min(2**31, int(delta)))


def _tuples(x: Any) -> Any:
    return tuple(_tuples(i) for i in x) if isinstance(x, list) else x


def _symbol_of(cmd: Command) -> str:
    if isinstance(cmd, CancelReplace):
        return cmd.cancel.symbol
    return cmd.symbol
