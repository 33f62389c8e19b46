"""The withdrawal state machine: requested -> checks -> pending_approval (when needed) -> approved -> signed ->
broadcast -> confirming -> completed; or rejected / cancelled / failed, which give the locked funds back.

- ``request`` runs every check first (supported coin and network, destination valid for the network, freezes,
  whitelist entry past its cooling-off, daily limit, screening, withdrawable balance) and refuses with
  ``WithdrawalRefused`` (nothing written) or inserts the row and reserves amount + fee in the ledger in ONE
  batch. Credited deposits not yet unlocked are not withdrawable.
- Approval is needed above the coin's ``approval_above``, for an address the account never withdrew to, or
  when the anomaly scorer flags it; then ``approvals`` distinct operators approve (the requester never can).
- The compliance ``gate`` (wired by the gateway: tier limits, Travel Rule, sanctions and AML) sees each new
  withdrawal before it is written: it refuses it (nothing written), asks for review (approval), or holds it
  (``held``: neither approvable nor cancellable). A held withdrawal leaves that state only when its compliance
  case is closed: ``resolve_holds`` (run by ``process`` too) asks ``hold_state`` and moves a released one to
  ``pending_approval`` (treasury still approves the sending) or gives a returned one's funds back (``rejected``).
- ``process`` signs approved withdrawals with the network's hot signer when the hot wallet can cover them;
  otherwise they wait in ``waiting_cold`` for a cold spend (the PSBT / offline EVM flow of ``wallets.custody``),
  whose signed bytes ``attach_signed`` stores. The signed transaction and its txid are stored BEFORE it is
  broadcast; ``recover`` (at start, and before each ``process``) looks every signed/broadcast withdrawal up on
  the chain by txid and rebroadcasts the same bytes only if the node does not know it: never rebuilt.
- At the coin's ``credit_confirmations`` the withdrawal is completed: the reservation leaves the account, the
  amount to ``external`` and the fee to ``house:fees``, in the same batch as the state change.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Protocol, cast

import structlog
from sqlalchemy import Connection, select

from config.custody import CoinNetwork, CustodyFlowSettings
from domain import now_ms
from wallets.accounts import EXTERNAL, HOUSE_FEES
from wallets.custody import models
from wallets.custody.addresses import normalize, validate_address
from wallets.custody.coins import Coins
from wallets.custody.deposit_flow import account_freeze_scope, credited_not_unlocked
from wallets.custody.errors import CustodyError, InvalidAddress
from wallets.custody.networks import BtcParams, Network
from wallets.db import Batch, Conflict, Insert, Store, Update, Upsert
from wallets.errors import InsufficientBalance
from wallets.ledger import Ledger
from wallets.models import canon

log = structlog.get_logger(__name__)

ZERO = Decimal(0)
DAY_MS = 86_400_000
RELEASED = ("rejected", "cancelled", "failed")
IN_FLIGHT = ("signed", "broadcast")
ALL = "ALL"


class WithdrawalRefused(CustodyError):
    """A request or an operator action refused; ``code`` is the Binance-style error code the API returns."""

    def __init__(self, msg: str, code: int = -4026) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


@dataclass(frozen=True, slots=True)
class SignedTx:
    raw: bytes
    txid: str


@dataclass(frozen=True, slots=True)
class Withdrawal:
    id: str
    account_id: int
    client_id: str
    coin: str
    network: str
    address: str
    amount: Decimal
    fee: Decimal
    status: str
    reason: str
    requested_by: str
    raw_tx: str | None
    txid: str | None
    created: int
    updated: int

    def row(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


class ChainClient(Protocol):
    """What withdrawals need of a network's node (the h/chains clients, or a test double)."""

    async def broadcast(self, network: str, raw: bytes) -> str:
        """Send the raw signed transaction; its txid."""

    async def lookup(self, network: str, txid: str) -> int | None:
        """None if the node knows no such transaction; else its confirmations (0: in the mempool)."""


class Signer(Protocol):
    """A network's hot signer: how much the hot wallet can pay now, and a signed transaction paying ``w``."""

    async def capacity(self, network: str, coin: str) -> Decimal: ...

    async def sign(self, w: Withdrawal, coin: CoinNetwork) -> SignedTx: ...


@dataclass(frozen=True, slots=True)
class Verdict:
    """Compliance's answer for a new withdrawal: refused (``refuse``, the client's error, with ``code``), held
    until a case is closed (``hold``), in need of an operator's approval (``review``), or none of them (go)."""

    refuse: str = ""
    code: int = -4031
    hold: str = ""
    review: str = ""


GO = Verdict()

Screen = Callable[[str, str], Awaitable[str | None]]  # (network, address) -> refusal reason or None
Hold = Callable[["Withdrawal"], Awaitable[str | None]]  # compliance: a reason to hold for operators, or None
Scorer = Callable[["Withdrawal", list["Withdrawal"]], Awaitable[str | None]]  # (new, account history) -> flag
# (new withdrawal, the account's withdrawals of the last 32 days, what the client sent for compliance) -> verdict
Gate = Callable[["Withdrawal", list["Withdrawal"], Mapping[str, Any]], Awaitable[Verdict]]
HoldState = Callable[["Withdrawal"], Awaitable[str]]  # a held withdrawal: "held", "release" or "return"


class Authorize(Protocol):
    """May ``operator`` do ``action`` (on a withdrawal ``requester`` asked for)? May raise WithdrawalRefused."""

    async def __call__(self, operator: str, action: str, requester: str | None = None) -> bool: ...


async def allow_address(network: str, address: str) -> None:
    """Default screening: nothing is refused (compliance wires sanctions screening here)."""
    return


async def no_hold(w: Withdrawal) -> None:
    """Default: no compliance hold (the AML case management wires its hold/open-case decision here)."""
    return


async def allow_operator(operator: str, action: str, requester: str | None = None) -> bool:
    """Default authorization: any named operator may act (the operators module wires roles and 2FA here)."""
    return bool(operator)


async def go(w: Withdrawal, history: list[Withdrawal], details: Mapping[str, Any]) -> Verdict:
    """Default compliance gate: every withdrawal may go (the gateway wires tier limits, screening and AML)."""
    return GO


async def never_held(w: Withdrawal) -> str:
    """Default hold state: the default gate holds nothing; a hold nobody can decide on stays held."""
    return "held"


def default_scorer(flow: CustodyFlowSettings) -> Scorer:
    """Flags a withdrawal far above the account's own largest, or the account's Nth within an hour."""

    async def score(w: Withdrawal, history: list[Withdrawal]) -> str | None:
        done = [h for h in history if h.coin == w.coin and h.status not in RELEASED]
        if done and w.amount > max(h.amount for h in done) * flow.anomaly_factor:
            return f"amount is over {flow.anomaly_factor}x the account's largest {w.coin} withdrawal"
        recent = [h for h in history if h.created >= w.created - 3_600_000 and h.status not in RELEASED]
        if len(recent) >= flow.velocity_per_hour:
            return f"more than {flow.velocity_per_hour} withdrawals within an hour"
        return None

    return score


class Withdrawals:
    """Withdrawals of one installation over the store and the ledger. One process runs ``process``/``recover``;
    any process may ``request``, ``approve``, ``reject``, ``cancel``, ``freeze``."""

    def __init__(
        self,
        store: Store,
        ledger: Ledger,
        flow: CustodyFlowSettings,
        *,
        btc: BtcParams | None = None,
        chains: dict[str, ChainClient] | None = None,
        signers: dict[str, Signer] | None = None,
        screen: Screen = allow_address,
        hold: Hold = no_hold,
        authorize: Authorize = allow_operator,
        scorer: Scorer | None = None,
        gate: Gate = go,
        hold_state: HoldState = never_held,
        clock: Callable[[], int] = now_ms,
        on_change: Callable[[Withdrawal], None] | None = None,
        on_balance: Callable[[Withdrawal, Decimal], None] | None = None,
    ) -> None:
        self.store = store
        self.ledger = ledger
        self.flow = flow
        self.coins = Coins.from_settings(flow)
        self.btc = btc
        self.chains = chains or {}
        self.signers = signers or {}
        self.screen = screen
        self.hold = hold
        self.authorize = authorize
        self.scorer = scorer or default_scorer(flow)
        self.gate = gate
        self.hold_state = hold_state
        self.clock = clock
        self.on_change = on_change  # after each committed change
        self.on_balance = on_balance  # (withdrawal, change of the free balance) at request and release
        self._lock = asyncio.Lock()

    # -- reads ---------------------------------------------------------------------------------------

    async def get(self, wid: str) -> Withdrawal:
        found = await self.store.read(lambda c: _read_one(c, wid))
        if found is None:
            raise WithdrawalRefused(f"no withdrawal {wid}", -4027)
        return found

    async def query(
        self,
        *,
        account_id: int | None = None,
        status: str | None = None,
        coin: str | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int = 1000,
    ) -> list[Withdrawal]:
        t = models.withdrawals
        q = models.history(t, account_id=account_id, coin=coin, start=start, end=end)
        if status:
            q = q.where(t.c.status == status)
        q = q.limit(limit)
        return await self.store.read(lambda c: [_withdrawal(r) for r in c.execute(q).mappings()])

    async def freezes(self) -> dict[str, str]:
        t = models.freezes
        return await self.store.read(lambda c: {r.scope: r.reason for r in c.execute(select(t).where(t.c.active))})

    async def approvals(self, wid: str) -> list[str]:
        t = models.withdrawal_approvals
        return await self.store.read(
            lambda c: list(c.execute(select(t.c.operator).where(t.c.withdrawal_id == wid).order_by(t.c.ts)).scalars())
        )

    async def withdrawable(self, account_id: int, coin: str) -> Decimal:
        """Free balance less credited deposits still under their unlock threshold."""
        held = await self.store.read(lambda c: credited_not_unlocked(c, account_id, coin))
        return max(ZERO, self.ledger.available(account_id, coin).free - held)

    # -- the client's side ---------------------------------------------------------------------------

    async def whitelist(self, account_id: int, network: str, address: str) -> int:
        """Add a withdrawal address for the account; returns when it becomes usable (ms)."""
        net = cast(Network, network.upper())
        canonical = self._valid(net, address)
        ts = self.clock()
        batch = Batch()
        batch.add(
            Insert(
                models.whitelist,
                {"account_id": account_id, "network": net, "address": normalize(net, canonical), "added": ts},
            )
        )
        try:
            await self.store.write(batch)
        except Conflict:
            t = models.whitelist
            ts = await self.store.read(
                lambda c: c.execute(
                    select(t.c.added).where(
                        t.c.account_id == account_id, t.c.network == net, t.c.address == normalize(net, canonical)
                    )
                ).scalar_one()
            )
        return int(ts) + self.flow.whitelist_cooloff_s * 1000

    async def request(
        self,
        account_id: int,
        coin: str,
        network: str,
        address: str,
        amount: Decimal,
        *,
        client_id: str | None = None,
        requested_by: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Withdrawal:
        """Check and record a withdrawal, reserving amount + fee; ``WithdrawalRefused`` changes nothing.
        ``details``: what the client sent for compliance (e.g. the Travel Rule beneficiary), handed to the gate."""
        async with self._lock:
            return await self._request(
                account_id, coin, network, address, amount, client_id, requested_by, details or {}
            )

    async def _request(
        self,
        account_id: int,
        coin_name: str,
        network: str,
        address: str,
        amount: Decimal,
        client_id: str | None,
        requested_by: str | None,
        details: Mapping[str, Any],
    ) -> Withdrawal:
        coin = self.coins.get(network, coin_name)
        if coin is None:
            raise WithdrawalRefused(f"{coin_name} cannot be withdrawn on network {network}", -4019)
        if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
            raise WithdrawalRefused(f"amount must be a positive number, was {amount}", -4003)
        if amount != amount.quantize(Decimal(1).scaleb(-coin.decimals)):
            raise WithdrawalRefused(
                f"amount has more than {coin.decimals} decimals for {coin.coin} on {coin.network}", -4003
            )
        if amount < coin.withdraw_min:
            raise WithdrawalRefused(f"amount is below the minimum withdrawal of {coin.withdraw_min} {coin.coin}", -4003)
        canonical = self._valid(coin.network, address)
        frozen = await self.freezes()
        for scope in (ALL, coin.coin, account_freeze_scope(account_id)):
            if scope in frozen:
                raise WithdrawalRefused(f"withdrawals are frozen ({scope}): {frozen[scope]}", -4028)
        now = self.clock()
        lookup = normalize(coin.network, canonical)
        if self.flow.whitelist_required:
            t = models.whitelist
            added = await self.store.read(
                lambda c: c.execute(
                    select(t.c.added).where(
                        t.c.account_id == account_id, t.c.network == coin.network, t.c.address == lookup
                    )
                ).scalar()
            )
            if added is None:
                raise WithdrawalRefused(f"{canonical} is not on this account's withdrawal whitelist", -4029)
            usable = int(added) + self.flow.whitelist_cooloff_s * 1000
            if usable > now:
                raise WithdrawalRefused(
                    f"{canonical} was whitelisted recently: usable in {(usable - now) // 1000} s", -4029
                )
        history = await self.query(account_id=account_id, start=now - 32 * DAY_MS)  # a calendar month, at least
        if coin.daily_limit > 0:
            day = sum(
                (
                    h.amount
                    for h in history
                    if h.coin == coin.coin and h.created > now - DAY_MS and h.status not in RELEASED
                ),
                ZERO,
            )
            if day + amount > coin.daily_limit:
                raise WithdrawalRefused(
                    f"over the daily withdrawal limit of {coin.daily_limit} {coin.coin} "
                    f"(already {canon(day)} in the last 24 h)",
                    -4030,
                )
        refusal = await self.screen(coin.network, canonical)
        if refusal:
            raise WithdrawalRefused(f"destination refused: {refusal}", -4031)
        total = amount + coin.withdraw_fee
        if await self.withdrawable(account_id, coin.coin) < total:
            raise WithdrawalRefused(
                f"insufficient withdrawable {coin.coin}: amount {amount} + fee {coin.withdraw_fee}", -4026
            )
        wid = uuid.uuid4().hex
        w = Withdrawal(
            wid,
            account_id,
            client_id or wid,
            coin.coin,
            coin.network,
            canonical,
            amount,
            coin.withdraw_fee,
            "requested",
            "",
            requested_by or f"account:{account_id}",
            None,
            None,
            now,
            now,
        )
        reasons = []
        if coin.approval_above > 0 and amount > coin.approval_above:
            reasons.append(f"amount above {coin.approval_above} {coin.coin}")
        if not any(
            normalize(h.network, h.address) == lookup and h.status not in RELEASED
            for h in history
            if h.network == coin.network
        ):
            older = await self._used_before(account_id, coin.network, canonical)
            if not older:
                reasons.append("first withdrawal to this address")
        for check in (self.scorer(w, history), self.hold(w)):
            flag = await check
            if flag:
                reasons.append(flag)
        if client_id is not None and await self._client_id_used(account_id, client_id):  # before the gate records
            raise WithdrawalRefused(f"withdrawOrderId {client_id!r} was used before", -4032)
        verdict = await self.gate(w, history, details)
        if verdict.refuse:
            raise WithdrawalRefused(verdict.refuse, verdict.code)
        if verdict.review:
            reasons.append(verdict.review)
        if verdict.hold:
            w = replace(w, status="held", reason="; ".join([verdict.hold, *reasons]))
        else:
            w = replace(w, status="pending_approval" if reasons else "approved", reason="; ".join(reasons))
        batch = Batch()
        try:
            await self.ledger.reserve(account_id, coin.coin, total, f"wd:{wid}", batch=batch)
        except InsufficientBalance as exc:
            raise WithdrawalRefused(f"insufficient {coin.coin}: {exc}", -4026) from None
        batch.add(Insert(models.withdrawals, w.row()))
        try:
            await self.store.write(batch)
        except Conflict:
            raise WithdrawalRefused(f"withdrawOrderId {client_id!r} was used before", -4032) from None
        log.info(
            "withdrawal requested",
            id=wid,
            account=account_id,
            coin=coin.coin,
            network=coin.network,
            amount=str(amount),
            status=w.status,
            reason=w.reason,
        )
        self._changed(w)
        if self.on_balance is not None:
            self.on_balance(w, -total)
        return w

    def _valid(self, network: str, address: str) -> str:
        try:
            return validate_address(network, address, self.btc).address
        except (InvalidAddress, ValueError) as exc:
            raise WithdrawalRefused(f"invalid {network} address: {exc}", -4007) from None

    async def _client_id_used(self, account_id: int, client_id: str) -> bool:
        t = models.withdrawals
        q = select(t.c.id).where(t.c.account_id == account_id, t.c.client_id == client_id)
        return await self.store.read(lambda c: c.execute(q).first() is not None)

    async def _used_before(self, account_id: int, network: str, address: str) -> bool:
        t = models.withdrawals
        rows = await self.store.read(
            lambda c: list(
                c.execute(
                    select(t.c.address).where(
                        t.c.account_id == account_id, t.c.network == network, t.c.status == "completed"
                    )
                ).scalars()
            )
        )
        lookup = normalize(network, address)  # type: ignore[arg-type]
        return any(normalize(network, a) == lookup for a in rows)  # type: ignore[arg-type]

    async def cancel(self, wid: str, by: str) -> Withdrawal:
        """The requester takes back a withdrawal not yet signed."""
        async with self._lock:
            w = await self.get(wid)
            if by not in (w.requested_by, f"account:{w.account_id}"):
                raise WithdrawalRefused(f"{by} did not request withdrawal {wid}", -4027)
            return await self._release(w, "cancelled", f"cancelled by {by}")

    # -- the operators' side -------------------------------------------------------------------------

    async def approve(self, wid: str, operator: str) -> Withdrawal:
        w = await self.get(wid)
        await self._authorized(operator, "withdrawal.approve", w.requested_by)
        async with self._lock:
            w = await self.get(wid)
            if operator in (w.requested_by, f"account:{w.account_id}"):
                raise WithdrawalRefused(f"{operator} requested withdrawal {wid} and cannot approve it", -4033)
            if w.status != "pending_approval":
                raise WithdrawalRefused(f"withdrawal {wid} is {w.status}, not waiting for approval", -4027)
            done = await self.approvals(wid)
            if operator in done:
                raise WithdrawalRefused(f"{operator} already approved withdrawal {wid}", -4033)
            ts = self.clock()
            batch = Batch()
            batch.add(Insert(models.withdrawal_approvals, {"withdrawal_id": wid, "operator": operator, "ts": ts}))
            new = w
            if len(done) + 1 >= self.flow.approvals:
                new = replace(w, status="approved", updated=ts)
                batch.add(Update(models.withdrawals, (wid,), {"status": "approved", "updated": ts}))
            try:
                await self.store.write(batch)
            except Conflict:
                raise WithdrawalRefused(f"{operator} already approved withdrawal {wid}", -4033) from None
            log.info("withdrawal approval", id=wid, operator=operator, approvals=len(done) + 1, status=new.status)
            self._changed(new)
            return new

    async def reject(self, wid: str, operator: str, reason: str = "") -> Withdrawal:
        await self._authorized(operator, "withdrawal.reject", (await self.get(wid)).requested_by)
        async with self._lock:
            return await self._release(
                await self.get(wid), "rejected", f"rejected by {operator}: {reason}".rstrip(": ")
            )

    async def freeze(self, scope: str, operator: str, reason: str = "") -> None:
        """Stop new withdrawals of one coin (``scope`` "BTC") or of everything (``ALL``); persisted."""
        await self._authorized(operator, "withdrawal.freeze")
        batch = Batch()
        batch.add(
            Upsert(
                models.freezes,
                {
                    "scope": scope.upper() if not scope.startswith("account:") else scope,
                    "active": True,
                    "reason": reason or "frozen by an operator",
                    "by": operator,
                    "ts": self.clock(),
                },
            )
        )
        await self.store.write(batch)
        log.warning("withdrawals frozen", scope=scope, operator=operator, reason=reason)

    async def unfreeze(self, scope: str, operator: str) -> bool:
        await self._authorized(operator, "withdrawal.unfreeze")
        key = scope.upper() if not scope.startswith("account:") else scope
        if key not in await self.freezes():
            return False
        batch = Batch()
        batch.add(Update(models.freezes, (key,), {"active": False, "by": operator, "ts": self.clock()}))
        await self.store.write(batch)
        log.warning("withdrawals unfrozen", scope=key, operator=operator)
        return True

    async def _authorized(self, operator: str, action: str, requester: str | None = None) -> None:
        if not await self.authorize(operator, action, requester):
            raise WithdrawalRefused(f"operator {operator!r} may not {action}", -4034)

    # -- compliance holds ----------------------------------------------------------------------------

    async def resolve_holds(self) -> list[Withdrawal]:
        """Move every held withdrawal whose compliance case was closed: released ones to ``pending_approval``,
        returned ones back to the client (``rejected``, funds free again). Returns what changed."""
        async with self._lock:
            return await self._resolve_holds()

    async def _resolve_holds(self) -> list[Withdrawal]:
        out = []
        for w in await self.query(status="held"):
            state = await self.hold_state(w)
            if state == "return":
                out.append(await self._release(w, "rejected", "returned by compliance", held=True))
            elif state == "release":
                ts = self.clock()
                new = replace(
                    w, status="pending_approval", reason=_join(w.reason, "released by compliance"), updated=ts
                )
                await self._update(new, {"status": new.status, "reason": new.reason, "updated": ts})
                log.info("withdrawal released by compliance", id=w.id)
                out.append(new)
        return out

    # -- moving money out ----------------------------------------------------------------------------

    async def process(self) -> list[Withdrawal]:
        """Recover in-flight transactions, then sign and broadcast every approved withdrawal, and complete
        the confirmed ones. Returns what changed."""
        async with self._lock:
            changed = await self._resolve_holds()
            changed += await self._recover()
            for w in await self.query(status="approved"):
                done = await self._send(w)
                if done is not None:
                    changed.append(done)
            for status in ("broadcast", "confirming"):
                for w in await self.query(status=status):
                    done = await self._check(w)
                    if done is not None:
                        changed.append(done)
            return changed

    async def recover(self) -> list[Withdrawal]:
        """At start: every signed/broadcast withdrawal looked up by txid; rebroadcast (same bytes) if absent."""
        async with self._lock:
            return await self._recover()

    async def attach_signed(self, wid: str, raw: bytes, txid: str) -> Withdrawal:
        """Store the cold-signed transaction of a ``waiting_cold`` withdrawal (checked by the cold flow's own
        ``check_psbt_against`` / ``verify_signed_evm`` first); the next ``process`` broadcasts it."""
        async with self._lock:
            w = await self.get(wid)
            if w.status != "waiting_cold":
                raise WithdrawalRefused(f"withdrawal {wid} is {w.status}, not waiting for a cold signature", -4027)
            return await self._store_signed(w, SignedTx(raw, txid))

    async def _send(self, w: Withdrawal) -> Withdrawal | None:
        signer = self.signers.get(w.network)
        chain = self.chains.get(w.network)
        if signer is None or chain is None:
            log.warning("no hot signer or chain client for the network: withdrawal waits", id=w.id, network=w.network)
            return None
        if await signer.capacity(w.network, w.coin) < w.amount:
            new = replace(
                w, status="waiting_cold", reason=_join(w.reason, "above the hot wallet's balance"), updated=self.clock()
            )
            await self._update(new, {"status": new.status, "reason": new.reason, "updated": new.updated})
            return new
        coin = self.coins.require(w.network, w.coin)
        try:
            signed = await signer.sign(w, coin)
        except Exception as exc:  # noqa: BLE001 - nothing was sent: the funds go back
            log.error("withdrawal signing failed", id=w.id, error=repr(exc))
            return await self._release(w, "failed", f"signing failed: {exc}")
        w = await self._store_signed(w, signed)
        return await self._broadcast(w, chain)

    async def _store_signed(self, w: Withdrawal, signed: SignedTx) -> Withdrawal:
        new = replace(w, status="signed", raw_tx=signed.raw.hex(), txid=signed.txid, updated=self.clock())
        await self._update(new, {"status": "signed", "raw_tx": new.raw_tx, "txid": new.txid, "updated": new.updated})
        return new

    async def _broadcast(self, w: Withdrawal, chain: ChainClient) -> Withdrawal:
        assert w.raw_tx is not None and w.txid is not None
        txid = await chain.broadcast(w.network, bytes.fromhex(w.raw_tx))
        if txid.lower().removeprefix("0x") != w.txid.lower().removeprefix("0x"):
            log.error("node answered another txid", id=w.id, stored=w.txid, node=txid)
        new = replace(w, status="broadcast", updated=self.clock())
        await self._update(new, {"status": "broadcast", "updated": new.updated})
        log.info("withdrawal broadcast", id=w.id, txid=w.txid)
        return new

    async def _recover(self) -> list[Withdrawal]:
        out = []
        for status in IN_FLIGHT:
            for w in await self.query(status=status):
                chain = self.chains.get(w.network)
                if chain is None or w.txid is None:
                    continue
                seen = await chain.lookup(w.network, w.txid)
                if seen is None:
                    log.warning("in-flight withdrawal unknown to the node: rebroadcasting the stored bytes", id=w.id)
                    out.append(await self._broadcast(w, chain))
                elif status == "signed":
                    new = replace(w, status="broadcast", updated=self.clock())
                    await self._update(new, {"status": "broadcast", "updated": new.updated})
                    out.append(new)
        return out

    async def _check(self, w: Withdrawal) -> Withdrawal | None:
        chain = self.chains.get(w.network)
        if chain is None or w.txid is None:
            return None
        confirmations = await chain.lookup(w.network, w.txid)
        coin = self.coins.require(w.network, w.coin)
        if confirmations is None:
            return None
        if confirmations < coin.credit_confirmations:
            if confirmations >= 1 and w.status == "broadcast":  # mined, not yet deep enough
                new = replace(w, status="confirming", updated=self.clock())
                await self._update(new, {"status": "confirming", "updated": new.updated})
                return new
            return None
        ts = self.clock()
        batch = Batch()
        ref = f"wd:{w.id}"
        await self.ledger.release(w.account_id, w.coin, w.amount + w.fee, ref, batch=batch)
        await self.ledger.debit(w.account_id, w.coin, w.amount, ref, sink=EXTERNAL, batch=batch)
        if w.fee > 0:
            await self.ledger.debit(w.account_id, w.coin, w.fee, ref, sink=HOUSE_FEES, batch=batch)
        new = replace(w, status="completed", updated=ts)
        batch.add(Update(models.withdrawals, (w.id,), {"status": "completed", "updated": ts}))
        await self.store.write(batch)
        log.info("withdrawal completed", id=w.id, txid=w.txid)
        self._changed(new)
        return new

    async def _release(self, w: Withdrawal, status: str, reason: str, *, held: bool = False) -> Withdrawal:
        if w.status not in ("pending_approval", "approved", "waiting_cold", "requested") + (("held",) if held else ()):
            raise WithdrawalRefused(f"withdrawal {w.id} is {w.status}: too late to {status[:-2] or status}", -4027)
        ts = self.clock()
        batch = Batch()
        await self.ledger.release(w.account_id, w.coin, w.amount + w.fee, f"wd:{w.id}", batch=batch)
        new = replace(w, status=status, reason=_join(w.reason, reason), updated=ts)
        batch.add(Update(models.withdrawals, (w.id,), {"status": status, "reason": new.reason, "updated": ts}))
        await self.store.write(batch)
        log.info("withdrawal released", id=w.id, status=status, reason=reason)
        self._changed(new)
        if self.on_balance is not None:
            self.on_balance(new, w.amount + w.fee)
        return new

    async def _update(self, new: Withdrawal, values: dict[str, Any]) -> None:
        batch = Batch()
        batch.add(Update(models.withdrawals, (new.id,), values))
        await self.store.write(batch)
        self._changed(new)

    def _changed(self, w: Withdrawal) -> None:
        if self.on_change is not None:
            self.on_change(w)


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a else b


def _withdrawal(r: Any) -> Withdrawal:
    return Withdrawal(**{k: r[k] for k in Withdrawal.__dataclass_fields__})


def _read_one(conn: Connection, wid: str) -> Withdrawal | None:
    r = conn.execute(select(models.withdrawals).where(models.withdrawals.c.id == wid)).mappings().first()
    return None if r is None else _withdrawal(r)
