"""The deposit state machine: the chain watchers' consumer, crediting the ledger exactly once.

detected -> confirming -> credited (at the coin's ``credit_confirmations``: a ledger credit to the free
balance, tradeable) -> unlocked (at ``unlock_confirmations``: withdrawable). "Not yet withdrawable" is not a
ledger bucket (the ledger's ``locked`` bucket holds order and withdrawal reservations): it is this table's
``credited`` rows, which withdrawals subtract from the free balance (``credited_not_unlocked``).

Compliance (wired by the gateway through two hooks): ``screen`` is asked before the credit (sanctioned source,
AML rules) and answers ``credit``, ``hold`` (the deposit waits, uncredited, in ``held`` until its compliance case
is closed) or ``return`` (closed with the money returned: ``returned``, never credited); ``unlock_check`` is asked
before the unlock (tier limits, Travel Rule) and a reason keeps the credited deposit ``locked`` (tradeable, not
withdrawable). ``recheck`` asks again for every held and locked deposit (after a case closes, a tier changes or
the originator's details arrive).

A payment below the coin's ``min_deposit`` is recorded as ``dust`` and never credited. Orphaned before its
credit it becomes ``orphaned`` (and comes back if the replacement branch mines it again); orphaned after its
credit it is ``reversed``: the credit is debited back in one transaction with the state change. If the
account no longer holds it (already traded or withdrawn), what is there is taken, the rest is recorded as
``shortfall``, the account's withdrawals are frozen and ``open_case`` is called.

Every ledger step inserts a ``custody_deposit_steps`` row (its primary key is the deposit and the step) in the
same batch as the transfer and the state change, so a replay after a crash or a second process cannot credit
twice: the database refuses the whole batch.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Protocol

import structlog
from sqlalchemy import Connection, select

from domain import now_ms
from wallets.custody import models
from wallets.custody.coins import Coins, from_base_units
from wallets.db import Batch, Conflict, Insert, Store, Update, Upsert
from wallets.errors import InsufficientBalance
from wallets.ledger import Ledger
from wallets.models import canon

log = structlog.get_logger(__name__)

ZERO = Decimal(0)
OPEN = ("detected", "confirming", "credited", "held", "locked")  # still followed by the state machine
CREDITED = ("credited", "locked")  # in the ledger, not yet withdrawable

CaseHook = Callable[[int, str, dict[str, Any]], Awaitable[None]]  # (account, reason, details)
# (deposit, its source addresses as the watcher saw them) -> "credit" | "hold" | "return"
DepositScreen = Callable[["Deposit", tuple[str, ...]], Awaitable[str]]
UnlockCheck = Callable[["Deposit"], Awaitable[str | None]]  # a reason to keep the deposit locked, or None


async def credit_all(dep: Deposit, sources: tuple[str, ...]) -> str:
    """The default screen: every deposit is credited (the gateway wires sanctions and AML screening here)."""
    return "credit"


async def unlock_all(dep: Deposit) -> str | None:
    """The default unlock check: nothing stays locked (the gateway wires tier limits and the Travel Rule here)."""
    return None


async def no_case(account_id: int, reason: str, details: dict[str, Any]) -> None:
    """The default case hook: log only (compliance wires its case management here)."""
    log.error("custody case", account=account_id, reason=reason, **details)


class AccountLookup(Protocol):
    def account_for(self, network: str, address: str) -> int | None: ...


class ObservationLike(Protocol):
    """What the watchers deliver (``wallets.chains.events.Observation``)."""

    @property
    def chain(self) -> str: ...

    @property
    def txid(self) -> str: ...

    @property
    def index(self) -> str: ...

    @property
    def address(self) -> str: ...

    @property
    def asset(self) -> str: ...

    @property
    def amount(self) -> int: ...

    @property
    def block_height(self) -> int: ...

    @property
    def block_hash(self) -> str: ...

    @property
    def account(self) -> str | None: ...

    @property
    def token(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Deposit:
    id: str
    chain: str
    txid: str
    idx: str
    account_id: int
    coin: str
    amount: Decimal
    amount_base: str
    address: str
    block_height: int
    block_hash: str
    confirmations: int
    status: str
    generation: int
    shortfall: Decimal
    created: int
    updated: int

    def row(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


def deposit_id(chain: str, txid: str, index: str) -> str:
    return hashlib.sha256(f"{chain}:{txid}:{index}".encode()).hexdigest()[:32]


def account_freeze_scope(account_id: int) -> str:
    return f"account:{account_id}"


class DepositFlow:
    """Implements the watchers' ``ChainConsumer``. One instance per watcher process; ``load`` it at start."""

    def __init__(
        self,
        store: Store,
        ledger: Ledger,
        addresses: AccountLookup,
        coins: Coins,
        *,
        open_case: CaseHook = no_case,
        screen: DepositScreen = credit_all,
        unlock_check: UnlockCheck = unlock_all,
        on_step: Callable[[Deposit, str, Decimal], None] | None = None,
    ) -> None:
        self.store = store
        self.ledger = ledger
        self.addresses = addresses
        self.coins = coins
        self.open_case = open_case
        self.screen = screen
        self.unlock_check = unlock_check
        self.on_step = on_step  # (deposit, step, change of free balance) after a step commits (user data stream)
        self._open: dict[str, Deposit] = {}  # deposits still followed, by id
        self._final: set[str] = set()  # ids seen finished (unlocked, dust) since start
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        """Read the deposits still followed (a restart resumes from the database)."""
        t = models.deposits

        def read(conn: Connection) -> list[Deposit]:
            return [_deposit(r) for r in conn.execute(select(t).where(t.c.status.in_(OPEN + ("orphaned",)))).mappings()]

        self._open = {d.id: d for d in await self.store.read(read)}

    def get(self, deposit_id_: str) -> Deposit | None:
        return self._open.get(deposit_id_)

    # -- the consumer protocol -----------------------------------------------------------------------

    async def on_observed(self, observation: ObservationLike) -> None:
        async with self._lock:
            await self._observed(observation)

    async def on_pending(self, observation: ObservationLike) -> None:
        """A payment still in the mempool (no block: height 0, empty hash): recorded as ``detected`` with 0
        confirmations, so the deposit history shows it pending; its block, when mined, replaces the empty one."""
        async with self._lock:
            did = deposit_id(observation.chain, observation.txid, str(observation.index))
            if did not in self._final and did not in self._open:
                await self._observed(observation)

    async def on_confirmations(self, chain: str, tip: Any, pending: list[tuple[ObservationLike, int]]) -> None:
        async with self._lock:
            counts = Batch()  # confirmation counts without a state change (shown in the deposit history)
            kept: list[Deposit] = []
            for observation, confirmations in pending:
                dep = self._open.get(deposit_id(observation.chain, observation.txid, str(observation.index)))
                if dep is None or dep.block_hash != observation.block_hash:
                    await self._observed(observation)  # missed (or re-mined): take it in first
                    dep = self._open.get(deposit_id(observation.chain, observation.txid, str(observation.index)))
                if dep is None:
                    continue
                if (
                    not await self._advance(dep, confirmations, _sources(observation))
                    and dep.status in OPEN
                    and confirmations > dep.confirmations
                ):
                    dep = replace(dep, confirmations=confirmations)
                    counts.add(Update(models.deposits, (dep.id,), {"confirmations": confirmations}))
                    kept.append(dep)
            if counts.ops:
                await self.store.write(counts)
                for dep in kept:
                    self._keep(dep)

    async def recheck(self) -> list[Deposit]:
        """Ask compliance again about every held and locked deposit (a case closed, a tier changed, details
        arrived); returns the deposits that moved."""
        async with self._lock:
            moved = [
                dep
                for dep in [d for d in self._open.values() if d.status in ("held", "locked")]
                if await self._advance(dep, dep.confirmations, ())
            ]
            found = [await self.store.read(functools.partial(_read_one, did=d.id)) for d in moved]
            return [d for d in found if d is not None]

    async def on_orphaned(self, observation: ObservationLike) -> None:
        async with self._lock:
            dep = self._open.get(deposit_id(observation.chain, observation.txid, str(observation.index)))
            if dep is None or dep.block_hash != observation.block_hash:
                return  # unknown, or already moved to another block
            await self._orphaned(dep)

    # -- transitions ---------------------------------------------------------------------------------

    async def _observed(self, o: ObservationLike) -> None:
        did = deposit_id(o.chain, o.txid, str(o.index))
        if did in self._final:
            return
        known = self._open.get(did)
        ts = now_ms()
        if known is not None:
            if known.block_hash == o.block_hash:
                return  # delivered again
            status = "detected" if known.status in ("orphaned", "reversed") else known.status
            await self._write(
                replace(
                    known,
                    block_height=o.block_height,
                    block_hash=o.block_hash,
                    status=status,
                    confirmations=0,
                    updated=ts,
                )
            )
            return
        coin = self.coins.for_observation(o.chain, o.asset, o.token)
        if coin is None:
            log.warning(
                "deposit in an unsupported coin ignored", chain=o.chain, asset=o.asset, token=o.token, txid=o.txid
            )
            return
        account = int(o.account) if o.account else self.addresses.account_for(o.chain, o.address)
        if account is None:
            return
        if not isinstance(o.amount, int) or o.amount <= 0:
            log.warning("deposit with a bad amount ignored", chain=o.chain, txid=o.txid, amount=o.amount)
            return
        amount = from_base_units(o.amount, coin.decimals)
        existing = await self.store.read(lambda conn: _read_one(conn, did))
        if existing is not None:
            if existing.status in OPEN or existing.status in ("orphaned", "reversed"):  # reversed: mined again
                self._open[did] = existing
                await self._observed(o)
            else:
                self._final.add(did)  # unlocked or dust: nothing more to do
            return
        dep = Deposit(
            did,
            o.chain,
            o.txid,
            str(o.index),
            account,
            coin.coin,
            amount,
            str(o.amount),
            o.address,
            o.block_height,
            o.block_hash,
            0,
            "dust" if amount < coin.min_deposit else "detected",
            0,
            ZERO,
            ts,
            ts,
        )
        batch = Batch()
        batch.add(Insert(models.deposits, dep.row()))
        try:
            await self.store.write(batch)
        except Conflict:  # another process recorded it first
            stored = await self.store.read(lambda conn: _read_one(conn, did))
            if stored is None:
                return
            dep = stored
        self._keep(dep)
        log.info("deposit detected", id=did, account=account, coin=coin.coin, amount=str(amount), status=dep.status)

    async def _advance(self, dep: Deposit, confirmations: int, sources: tuple[str, ...]) -> bool:
        """Make the transition ``confirmations`` calls for, if any; True if one was written."""
        coin = self.coins.require(dep.chain, dep.coin)
        ts = now_ms()
        if dep.status in ("detected", "confirming", "held") and confirmations >= coin.credit_confirmations:
            verdict = await self.screen(dep, sources)
            if verdict == "return":
                await self._write(replace(dep, status="returned", confirmations=confirmations, updated=ts))
                log.warning("held deposit returned by compliance", id=dep.id, account=dep.account_id)
                return True
            if verdict != "credit":
                if dep.status == "held":
                    return False
                await self._write(replace(dep, status="held", confirmations=confirmations, updated=ts))
                log.warning("deposit held by compliance", id=dep.id, account=dep.account_id, coin=dep.coin)
                return True
            batch = Batch()
            await self.ledger.credit(dep.account_id, dep.coin, dep.amount, f"dep:{dep.id}", batch=batch)
            batch.add(
                Insert(models.deposit_steps, {"deposit_id": dep.id, "step": f"credit:{dep.generation}", "ts": ts})
            )
            status = "credited"
            steps = ["credit"]
            if confirmations >= coin.unlock_confirmations:
                status = "locked" if await self._keep_locked(dep) else "unlocked"
                if status == "unlocked":
                    batch.add(
                        Insert(
                            models.deposit_steps, {"deposit_id": dep.id, "step": f"unlock:{dep.generation}", "ts": ts}
                        )
                    )
                    steps.append("unlock")
            await self._step(
                dep, replace(dep, status=status, confirmations=confirmations, updated=ts), batch, steps, dep.amount
            )
        elif dep.status in CREDITED and confirmations >= coin.unlock_confirmations:
            if await self._keep_locked(dep):
                if dep.status == "locked":
                    return False
                await self._write(replace(dep, status="locked", confirmations=confirmations, updated=ts))
                return True
            batch = Batch()
            batch.add(
                Insert(models.deposit_steps, {"deposit_id": dep.id, "step": f"unlock:{dep.generation}", "ts": ts})
            )
            await self._step(
                dep, replace(dep, status="unlocked", confirmations=confirmations, updated=ts), batch, ["unlock"], ZERO
            )
        elif dep.status == "detected" and confirmations >= 1:
            await self._write(replace(dep, status="confirming", confirmations=confirmations, updated=ts))
        else:
            return False
        return True

    async def _keep_locked(self, dep: Deposit) -> bool:
        reason = await self.unlock_check(dep)
        if reason:
            log.info("deposit kept locked by compliance", id=dep.id, account=dep.account_id, reason=reason)
        return bool(reason)

    async def _orphaned(self, dep: Deposit) -> None:
        ts = now_ms()
        if dep.status not in CREDITED:
            # not credited yet: it simply disappears (until mined again)
            await self._write(replace(dep, status="orphaned", confirmations=0, updated=ts))
            log.warning("deposit orphaned before credit", id=dep.id, account=dep.account_id)
            return
        free = self.ledger.available(dep.account_id, dep.coin).free
        take = min(free, dep.amount)
        shortfall = dep.amount - take
        batch = Batch()
        if take > 0:
            await self.ledger.debit(dep.account_id, dep.coin, take, f"rev:{dep.id}", batch=batch)
        batch.add(Insert(models.deposit_steps, {"deposit_id": dep.id, "step": f"reverse:{dep.generation}", "ts": ts}))
        if shortfall > 0:
            batch.add(
                Upsert(
                    models.freezes,
                    {
                        "scope": account_freeze_scope(dep.account_id),
                        "active": True,
                        "by": "custody",
                        "reason": f"deposit {dep.id} reversed, {shortfall} {dep.coin} already spent",
                        "ts": ts,
                    },
                )
            )
        new = replace(
            dep,
            status="reversed",
            generation=dep.generation + 1,
            shortfall=dep.shortfall + shortfall,
            confirmations=0,
            updated=ts,
        )
        try:
            await self._step(dep, new, batch, ["reverse"], -take)
        except InsufficientBalance:  # spent between the read and the write: take what is there now
            await self._orphaned(dep)
            return
        log.warning(
            "credited deposit reversed", id=dep.id, account=dep.account_id, taken=str(take), shortfall=str(shortfall)
        )
        if shortfall > 0:
            await self.open_case(
                dep.account_id,
                "reversed deposit already spent",
                {"deposit": dep.id, "coin": dep.coin, "shortfall": str(canon(shortfall)), "txid": dep.txid},
            )

    # -- writing -------------------------------------------------------------------------------------

    async def _write(self, new: Deposit) -> None:
        batch = Batch()
        batch.add(Update(models.deposits, (new.id,), _changes(new)))
        await self.store.write(batch)
        self._keep(new)

    async def _step(self, old: Deposit, new: Deposit, batch: Batch, steps: list[str], delta: Decimal) -> None:
        batch.add(Update(models.deposits, (new.id,), _changes(new)))
        try:
            await self.store.write(batch)
        except Conflict:
            # the step is already in the database (a replay, or another process): take the stored state
            stored = await self.store.read(lambda conn: _read_one(conn, old.id))
            log.warning("deposit step already recorded", id=old.id, steps=steps, status=stored and stored.status)
            if stored is not None:
                self._keep(stored)
            return
        self._keep(new)
        log.info("deposit step", id=new.id, account=new.account_id, coin=new.coin, amount=str(new.amount), steps=steps)
        if self.on_step is not None:
            self.on_step(new, "+".join(steps), delta)

    def _keep(self, dep: Deposit) -> None:
        if dep.status in OPEN or dep.status == "orphaned":
            self._open[dep.id] = dep
        else:
            self._open.pop(dep.id, None)
            if dep.status != "reversed":
                self._final.add(dep.id)


def _sources(o: ObservationLike) -> tuple[str, ...]:
    """The observation's source addresses (``Observation.sources``; watchers that give none: empty)."""
    found = getattr(o, "sources", None) or ()
    return tuple(found) if not isinstance(found, str) else (found,)


def _changes(d: Deposit) -> dict[str, Any]:
    return {
        "status": d.status,
        "confirmations": d.confirmations,
        "block_height": d.block_height,
        "block_hash": d.block_hash,
        "generation": d.generation,
        "shortfall": d.shortfall,
        "updated": d.updated,
    }


def _deposit(r: Any) -> Deposit:
    return Deposit(**{k: r[k] for k in Deposit.__dataclass_fields__})


def _read_one(conn: Connection, did: str) -> Deposit | None:
    r = conn.execute(select(models.deposits).where(models.deposits.c.id == did)).mappings().first()
    return None if r is None else _deposit(r)


def credited_not_unlocked(conn: Connection, account_id: int, coin: str) -> Decimal:
    """What the account was credited but may not withdraw yet (its ``credited`` deposits of ``coin``)."""
    t = models.deposits
    rows = conn.execute(
        select(t.c.amount).where(t.c.account_id == account_id, t.c.coin == coin.upper(), t.c.status.in_(CREDITED))
    ).scalars()
    return sum(rows, ZERO)


def deposit_history(
    conn: Connection,
    account_id: int,
    *,
    coin: str | None = None,
    start: int | None = None,
    end: int | None = None,
    limit: int = 1000,
) -> list[Deposit]:
    """The account's deposits, newest first (orphaned ones are not shown: they never happened)."""
    q = models.history(models.deposits, account_id=account_id, coin=coin, start=start, end=end)
    q = q.where(models.deposits.c.status != "orphaned").limit(limit)
    return [_deposit(r) for r in conn.execute(q).mappings()]


__all__ = ["Deposit", "DepositFlow", "credited_not_unlocked", "deposit_history", "deposit_id"]
