"""The double-entry ledger: balances per account and asset (free and locked), moved only by transfers.

A transfer is two or more postings of one asset that sum to zero; the other leg of money entering or
leaving the clients is a system account (``external``, ``venue:<name>``, ``internal``, ``house:fees``),
the only accounts allowed below zero. Each posting moves the ``free`` or ``locked`` bucket of one account;
the balance rows change in the same transaction as the postings, so "balance = sum of postings" holds at
every commit (``balance_sheet()`` checks it, and that every transfer sums to zero).

Checks happen twice: here, against the committed balance plus everything this process has queued (so a
refusal is immediate and changes nothing), and inside the writer's transaction against the row as stored
(so several processes sharing one PostgreSQL cannot overdraw an account between them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Literal, NamedTuple

from sqlalchemy import Connection, select

from domain import OrderSide, now_ms
from wallets import models
from wallets.accounts import EXTERNAL, HOUSE_FEES, INTERNAL, Accounts
from wallets.committer import BalanceKey, BalanceValues
from wallets.db import Batch, Store, Transfer
from wallets.errors import InsufficientBalance, WalletError

ZERO = Decimal(0)
Bucket = Literal["free", "locked"]
Kind = Literal["credit", "debit", "reserve", "release", "fill", "fee", "markup"]


@dataclass(frozen=True, slots=True)
class Balance:
    asset: str
    free: Decimal
    locked: Decimal


class Leg(NamedTuple):
    account_id: int
    asset: str
    bucket: Bucket
    amount: Decimal


class Settlement(NamedTuple):
    """What one fill did to the client's account."""

    received: Decimal  # gross, in received_asset
    received_asset: str
    paid: Decimal
    paid_asset: str
    commission: Decimal
    commission_asset: str
    markup: Decimal  # credited to the broker, in received_asset
    released: Decimal


@dataclass(slots=True)
class BalanceSheet:
    """The result of checking the stored ledger; ``ok`` when there are no problems."""

    problems: list[str] = field(default_factory=list)
    postings: int = 0
    transfers: int = 0
    totals: dict[str, Decimal] = field(default_factory=dict)  # per asset over all accounts (must be zero)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_amount(amount: Decimal, what: str = "amount") -> Decimal:
    """An exact positive amount with at most 18 decimals, or ``WalletError``."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise WalletError(f"{what} must be a finite Decimal, was {amount!r}")
    if amount <= 0:
        raise WalletError(f"{what} must be positive, was {amount}")
    if amount != amount.quantize(models.QUANTUM):
        raise WalletError(f"{what} has more than {models.SCALE} decimals, was {amount}")
    return amount


_ASSETS: dict[str, str] = {}  # asset names seen valid -> their canonical form


def _check_asset(asset: str) -> str:
    found = _ASSETS.get(asset)
    if found is not None:
        return found
    if not isinstance(asset, str) or not asset or len(asset) > 16 or not asset.isalnum():
        raise WalletError(f"asset was {asset!r}")
    if len(_ASSETS) < 100_000:
        _ASSETS[asset] = asset.upper()
    return asset.upper()


class Ledger:
    """Credits, reservations, releases and fill settlement over the store (all exact ``Decimal``)."""

    def __init__(self, store: Store, accounts: Accounts) -> None:
        self.store = store
        self.accounts = accounts
        self._committed: dict[int, dict[str, tuple[Decimal, Decimal]]] = {}  # account -> asset -> (free, locked)
        self._pending: dict[BalanceKey, list[Decimal]] = {}
        self._stale: set[BalanceKey] = set()
        self._commits = 0  # commits seen; _committed_at[key] is the count when that key last changed
        self._committed_at: dict[BalanceKey, int] = {}
        self.reload()
        store.on_balances = self._on_committed

    def reload(self) -> None:
        """Load every balance row (call with nothing queued)."""

        def load(conn: Connection) -> dict[int, dict[str, tuple[Decimal, Decimal]]]:
            out: dict[int, dict[str, tuple[Decimal, Decimal]]] = {}
            for r in conn.execute(select(models.balances)):
                out.setdefault(int(r.account_id), {})[r.asset] = (r.free, r.locked)
            return out

        self._committed = self.store.read_sync(load)
        self._pending = {}

    # -- reads ---------------------------------------------------------------------------------------

    def balances(self, account_id: int) -> dict[str, Balance]:
        """The account's committed balances by asset (what a client may be shown)."""
        own = self._committed.get(account_id, {})
        return {asset: Balance(asset, *own[asset]) for asset in sorted(own)}

    def balance(self, account_id: int, asset: str) -> Balance:
        f, lk = self._committed.get(account_id, {}).get(asset.upper(), (ZERO, ZERO))
        return Balance(asset.upper(), f, lk)

    def available(self, account_id: int, asset: str) -> Balance:
        """Committed plus everything queued in this process (what the next check is made against)."""
        f, lk = self._avail((account_id, asset.upper()))
        return Balance(asset.upper(), f, lk)

    async def refresh(self, account_id: int) -> dict[str, Balance]:
        """The account's balances as stored now, cached values replaced: another process (the CLI, a second
        front, a projection) may have changed them since this one last wrote them. A row one of our own
        commits changed while the read ran keeps that commit's (newer) value."""
        started = self._commits

        def load(conn: Connection) -> dict[str, tuple[Decimal, Decimal]]:
            q = select(models.balances).where(models.balances.c.account_id == account_id)
            return {r.asset: (r.free, r.locked) for r in conn.execute(q)}

        rows = await self.store.read(load)
        own = self._committed.setdefault(account_id, {})
        at = self._committed_at
        for asset, value in rows.items():
            if at.get((account_id, asset), -1) <= started:
                own[asset] = value
        return self.balances(account_id)

    # -- writes --------------------------------------------------------------------------------------

    async def credit(
        self,
        account_id: int,
        asset: str,
        amount: Decimal,
        ref: str,
        *,
        source: str = EXTERNAL,
        batch: Batch | None = None,
    ) -> None:
        """Credit ``amount`` to the account's free balance from a system account (admin funding, deposits)."""
        asset, amount = _check_asset(asset), check_amount(amount)
        self._client(account_id)
        own = batch if batch is not None else Batch()
        src = self.accounts.system_account(source)
        await self._post(
            own, ref, [("credit", [Leg(account_id, asset, "free", amount), Leg(src, asset, "free", -amount)])]
        )
        await self._submit(own, batch)

    async def debit(
        self,
        account_id: int,
        asset: str,
        amount: Decimal,
        ref: str,
        *,
        sink: str = EXTERNAL,
        batch: Batch | None = None,
    ) -> None:
        """Take ``amount`` from the account's free balance to a system account (withdrawals, corrections)."""
        asset, amount = _check_asset(asset), check_amount(amount)
        self._client(account_id)
        own = batch if batch is not None else Batch()
        dst = self.accounts.system_account(sink)
        await self._post(
            own, ref, [("debit", [Leg(account_id, asset, "free", -amount), Leg(dst, asset, "free", amount)])]
        )
        await self._submit(own, batch)

    async def reserve(
        self, account_id: int, asset: str, amount: Decimal, ref: str, *, batch: Batch | None = None
    ) -> None:
        """Move ``amount`` from free to locked; ``InsufficientBalance`` (nothing changed) if free is short."""
        asset, amount = _check_asset(asset), check_amount(amount)
        self._client(account_id)
        own = batch if batch is not None else Batch()
        legs = [Leg(account_id, asset, "free", -amount), Leg(account_id, asset, "locked", amount)]
        await self._post(own, ref, [("reserve", legs)])
        await self._submit(own, batch)

    async def release(
        self, account_id: int, asset: str, amount: Decimal, ref: str, *, batch: Batch | None = None
    ) -> None:
        """Move ``amount`` from locked back to free (a cancel, or what a fill did not use)."""
        asset, amount = _check_asset(asset), check_amount(amount)
        self._client(account_id)
        own = batch if batch is not None else Batch()
        legs = [Leg(account_id, asset, "locked", -amount), Leg(account_id, asset, "free", amount)]
        await self._post(own, ref, [("release", legs)])
        await self._submit(own, batch)

    async def settle_fill(
        self,
        account_id: int,
        *,
        base: str,
        quote: str,
        side: OrderSide,
        qty: Decimal,
        price: Decimal,
        ref: str,
        quote_qty: Decimal | None = None,
        commission: Decimal = ZERO,
        commission_asset: str | None = None,
        counterparty: str = INTERNAL,
        release: Decimal = ZERO,
        batch: Batch | None = None,
    ) -> Settlement:
        """Book one fill of a client order whose funds were reserved.

        Buyer: ``quote_qty`` (default ``qty * price``) leaves the locked quote balance for the counterparty
        (a ``venue:<name>`` account or ``internal``), ``qty`` base arrives free. Seller: the mirror. The
        commission (default asset: the one received) goes to the venue, or to ``house:fees`` for internal
        matches; the tenant's markup (rate x amount received, rounded down) goes to the broker's account.
        ``release`` unlocks what the order no longer needs (e.g. price improvement on a buy) in the same write.
        """
        base, quote = _check_asset(base), _check_asset(quote)
        if side not in ("BUY", "SELL"):
            raise WalletError(f"side was {side!r}")
        qty, price = check_amount(qty, "qty"), check_amount(price, "price")
        qq = check_amount(
            quote_qty if quote_qty is not None else (qty * price).quantize(models.QUANTUM, ROUND_DOWN), "quote_qty"
        )
        self._client(account_id)
        own = batch if batch is not None else Batch()
        cp = self.accounts.system_account(counterparty)
        fee_to = self.accounts.system_account(HOUSE_FEES if counterparty == INTERNAL else counterparty)
        recv_asset, recv, pay_asset, pay = (base, qty, quote, qq) if side == "BUY" else (quote, qq, base, qty)
        transfers: list[tuple[Kind, list[Leg]]] = [
            ("fill", [Leg(account_id, pay_asset, "locked", -pay), Leg(cp, pay_asset, "free", pay)]),
            ("fill", [Leg(cp, recv_asset, "free", -recv), Leg(account_id, recv_asset, "free", recv)]),
        ]
        fee_asset = _check_asset(commission_asset) if commission_asset else recv_asset
        if commission:
            check_amount(commission, "commission")
            transfers.append(
                ("fee", [Leg(account_id, fee_asset, "free", -commission), Leg(fee_to, fee_asset, "free", commission)])
            )
        rate, broker = self.accounts.markup_of(account_id)
        markup = (recv * rate).quantize(models.QUANTUM, ROUND_DOWN) if broker is not None else ZERO
        if markup > 0 and broker is not None:
            transfers.append(
                ("markup", [Leg(account_id, recv_asset, "free", -markup), Leg(broker, recv_asset, "free", markup)])
            )
        if release:
            check_amount(release, "release")
            transfers.append(
                (
                    "release",
                    [Leg(account_id, pay_asset, "locked", -release), Leg(account_id, pay_asset, "free", release)],
                )
            )
        await self._post(own, ref, transfers)
        await self._submit(own, batch)
        return Settlement(recv, recv_asset, pay, pay_asset, commission, fee_asset, markup, release)

    # -- checks --------------------------------------------------------------------------------------

    async def balance_sheet(self) -> BalanceSheet:
        """Check the stored ledger: balances equal the sums of postings, every transfer sums to zero in one
        asset, no client or broker balance below zero, and each asset sums to zero over all accounts."""
        return await self.store.read(lambda conn: check_sheet(conn, self.accounts))

    # -- internals -----------------------------------------------------------------------------------

    def _client(self, account_id: int) -> None:
        if not self.accounts.exists(account_id) or self.accounts.is_system(account_id):
            raise WalletError(f"account {account_id} is not a client or broker account")

    def _avail(self, key: BalanceKey) -> tuple[Decimal, Decimal]:
        f, lk = self._committed.get(key[0], {}).get(key[1], (ZERO, ZERO))
        p = self._pending.get(key)
        return (f + p[0], lk + p[1]) if p else (f, lk)

    def _shortfall(self, net: dict[BalanceKey, list[Decimal]]) -> BalanceKey | None:
        system = self.accounts.system_ids
        for key, (df, dl) in net.items():
            if (df < 0 or dl < 0) and key[0] not in system:  # only a decrease can overdraw
                f, lk = self._avail(key)
                if f + df < 0 or lk + dl < 0:
                    return key
        return None

    async def _post(self, batch: Batch, ref: str, transfers: list[tuple[Kind, list[Leg]]]) -> None:
        net: dict[BalanceKey, list[Decimal]] = {}
        system = self.accounts.system_ids
        wire = []  # (kind, asset, legs as the writer takes them), built in the same pass as the checks
        for kind, legs in transfers:
            asset = legs[0].asset
            total = ZERO
            out = []
            for account_id, leg_asset, bucket, amount in legs:
                if leg_asset != asset:
                    raise WalletError(f"a transfer moves one asset, was {asset} and {leg_asset}")
                total += amount
                d = net.get((account_id, asset))
                if d is None:
                    d = net[(account_id, asset)] = [ZERO, ZERO]
                d[0 if bucket == "free" else 1] += amount
                out.append((account_id, bucket, str(amount), account_id not in system))
            if total != 0:
                raise WalletError(f"a transfer must sum to zero, was {total} {asset}")
            wire.append((kind, asset, tuple(out)))
        if self._stale:
            stale = [k for k in net if k in self._stale]
            if stale:  # a write of ours was refused: the stored row may differ from what we thought
                fresh = await self.store.read_balances(stale)
                for k in stale:
                    self._stale.discard(k)
                    self._committed.setdefault(k[0], {})[k[1]] = fresh.get(k, (ZERO, ZERO))
        short = self._shortfall(net)
        if short is not None:
            # this process may not have seen another writer's credit: look at the stored row once
            fresh = await self.store.read_balances([short])
            if short in fresh:
                self._committed.setdefault(short[0], {})[short[1]] = fresh[short]
            short = self._shortfall(net)
            if short is not None:
                f, lk = self._avail(short)
                raise InsufficientBalance(f"account {short[0]} {short[1]}: free {f} locked {lk}")
        ts = now_ms()
        ref = ref[:64]
        add = batch.add
        for kind, asset, wire_legs in wire:
            add(Transfer(kind, ref, ts, asset, wire_legs))
        # what this batch holds pending, undone in one go if it never commits
        held = batch.ledger_net
        if held is None:
            held = batch.ledger_net = {}
            batch.after_failure.append(self._unpend_hook(held, batch))
        pending = self._pending
        for key, (df, dl) in net.items():
            p = pending.get(key)
            if p is None:
                pending[key] = [df, dl]
            else:
                p[0] += df
                p[1] += dl
            h = held.get(key)
            if h is None:
                held[key] = [df, dl]
            else:
                h[0] += df
                h[1] += dl

    def _unpend_hook(self, net: dict[BalanceKey, list[Decimal]], batch: Batch) -> Callable[[], None]:
        def undo() -> None:
            if not batch.discarded:  # refused by the database: re-read those rows before the next check
                self._stale.update(net)
            for key, (df, dl) in net.items():
                p = self._pending.get(key)
                if p is not None:
                    p[0] -= df
                    p[1] -= dl
                    if p[0] == 0 and p[1] == 0:
                        del self._pending[key]

        return undo

    def _on_committed(self, values: BalanceValues, applied: BalanceValues) -> None:
        for key, (df, dl) in applied.items():
            p = self._pending.get(key)
            if p is not None:
                p[0] -= df
                p[1] -= dl
                if p[0] == 0 and p[1] == 0:
                    del self._pending[key]
        self._commits += 1
        for (acc, asset), value in values.items():
            self._committed.setdefault(acc, {})[asset] = value
            self._committed_at[(acc, asset)] = self._commits

    async def _submit(self, own: Batch, given: Batch | None) -> None:
        if given is None:
            await self.store.write(own)


def check_sheet(conn: Connection, accounts: Accounts | None = None) -> BalanceSheet:
    """The balance-sheet check on one connection (see ``Ledger.balance_sheet``)."""
    sheet = BalanceSheet()
    p = models.postings
    sums: dict[tuple[int, str, str], Decimal] = {}
    transfers: dict[int, dict[str, Decimal]] = {}
    for r in conn.execute(select(p.c.transfer_id, p.c.account_id, p.c.asset, p.c.bucket, p.c.amount)):
        sheet.postings += 1
        key = (int(r.account_id), r.asset, r.bucket)
        sums[key] = sums.get(key, ZERO) + r.amount
        per = transfers.setdefault(int(r.transfer_id), {})
        per[r.asset] = per.get(r.asset, ZERO) + r.amount
        sheet.totals[r.asset] = sheet.totals.get(r.asset, ZERO) + r.amount
    sheet.transfers = len(transfers)
    for tid, per in transfers.items():
        if len(per) != 1 or any(v != 0 for v in per.values()):
            sheet.problems.append(f"transfer {tid} does not balance: {per}")
    for asset, total in sheet.totals.items():
        if total != 0:
            sheet.problems.append(f"{asset} sums to {total} over all accounts")
    kinds = {
        int(r.account_id): r.kind for r in conn.execute(select(models.accounts.c.account_id, models.accounts.c.kind))
    }
    seen: set[tuple[int, str]] = set()
    for r in conn.execute(select(models.balances)):
        row = (int(r.account_id), r.asset)
        seen.add(row)
        for bucket, value in (("free", r.free), ("locked", r.locked)):
            expect = sums.get((row[0], row[1], bucket), ZERO)
            if value != expect:
                sheet.problems.append(f"account {row[0]} {row[1]} {bucket} is {value}, postings sum to {expect}")
            if value < 0 and kinds.get(row[0]) != "system":
                sheet.problems.append(f"account {row[0]} {row[1]} {bucket} is negative: {value}")
    for (acc, asset, bucket), value in sums.items():
        if (acc, asset) not in seen and value != 0:
            sheet.problems.append(f"account {acc} {asset} {bucket}: postings sum to {value} but no balance row")
        if acc not in kinds:
            sheet.problems.append(f"postings name unknown account {acc}")
    return sheet
