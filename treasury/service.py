"""The broker's treasury: its own inventory on each venue and in its wallets, and rebalancing transfers.

Transfers are proposals first. Each is written to ``treasury_transfers`` before anything is sent, needs M
approvals through the approval hook (the proposer never approves), and only ever pays one of two kinds of
destination: Braid's own hot wallet address (venue -> hot, through the venue's withdrawal API), or the
venue's deposit address as the venue gives it at that moment (hot -> venue, through the hot wallet sender).

Crash safety of a venue withdrawal: the row turns ``sending`` (committed) before the venue is called, and
carries our ``client_id``. A row found ``sending`` later is settled from the venue's withdrawal history
first: by client id where the venue keeps one (Binance, HTX; they also refuse the id twice), otherwise
(Kraken) by destination, amount and time. Only when the venue has no such withdrawal is it sent again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from sqlalchemy import Engine, insert, select, update

from config.treasury import VenueTarget
from connectors.capital import VenueCapital, VenueWithdrawal
from connectors.errors import OrderStateUnknown, Rejected, VenueError
from connectors.trading import TradingVenue
from domain import now_ms
from treasury.approvals import ApprovalHook
from treasury.models import transfers
from wallets.custody.addresses import normalize, validate_address
from wallets.custody.errors import InvalidAddress
from wallets.custody.networks import BTC_PARAMS, BtcParams, network_name
from wallets.errors import WalletError

if TYPE_CHECKING:
    from treasury.hotcold import HotCold

log = structlog.get_logger(__name__)

ZERO = Decimal(0)
VENUE_TO_HOT = "venue_to_hot"
HOT_TO_VENUE = "hot_to_venue"
OPEN_STATES = ("proposed", "approved", "sending", "sent", "waiting_cold", "signed")
HOT_COLD_KINDS = ("hot_to_cold", "cold_to_hot")  # planned and run by ``treasury.hotcold.HotCold``
# How far before ``sending_at`` a venue's withdrawal time may be and still match (clocks differ; Kraken
# reports whole seconds).
MATCH_SLACK_MS = 5_000


class TreasuryError(WalletError):
    """A treasury request refused: nothing was recorded or sent."""


class WalletBalances(Protocol):
    """What the broker holds on chain, per wallet (``hot``, ``cold``, ``deposit``) and asset."""

    async def wallet_balances(self) -> Mapping[str, Mapping[str, Decimal]]: ...


class Authorizer(Protocol):
    """May ``actor`` do ``action`` (propose, approve, reject)? Returns, or raises (e.g. ``TreasuryError``).

    The command line checks the back office's operators.
    """

    def __call__(self, actor: str, action: str, target: str) -> None: ...


class AuditSink(Protocol):
    """Told of each action that took effect (the command line writes it to the hash-chained audit log)."""

    def __call__(self, actor: str, action: str, target: str, details: Mapping[str, str]) -> None: ...


class HotWalletSender(Protocol):
    """Pays from the hot wallet; ``idempotency_key`` makes a second call with it return the first txid."""

    async def send(self, network: str, asset: str, address: str, amount: Decimal, idempotency_key: str) -> str: ...


@dataclass(frozen=True)
class Holding:
    place: str  # a venue name, or a wallet: hot | cold | deposit
    kind: str  # venue | wallet
    asset: str
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(frozen=True)
class Inventory:
    holdings: tuple[Holding, ...]
    unavailable: tuple[str, ...]  # venues or wallet sources that did not answer

    def total(self, asset: str) -> Decimal:
        return sum((h.total for h in self.holdings if h.asset == asset), ZERO)

    def at(self, place: str, asset: str) -> Decimal:
        return sum((h.total for h in self.holdings if h.place == place and h.asset == asset), ZERO)

    def assets(self) -> list[str]:
        return sorted({h.asset for h in self.holdings})


@dataclass(frozen=True)
class Transfer:
    id: int
    client_id: str
    kind: str
    venue: str
    asset: str
    network: str
    amount: Decimal
    address: str
    state: str
    proposer: str
    reason: str
    venue_ref: str | None
    tx_id: str | None
    error: str | None
    created: int
    updated: int
    sending_at: int | None
    approvers: tuple[str, ...] = ()
    artefact: str | None = None  # cold -> hot: what the cold signers sign (JSON)
    raw_tx: str | None = None  # hot <-> cold: the signed transaction (hex), stored before its broadcast


def _row(r: Any, approvers: Sequence[str] = ()) -> Transfer:
    return Transfer(
        int(r.id),
        r.client_id,
        r.kind,
        r.venue,
        r.asset,
        r.network,
        Decimal(r.amount),
        r.address,
        r.state,
        r.proposer,
        r.reason,
        r.venue_ref,
        r.tx_id,
        r.error,
        int(r.created),
        int(r.updated),
        None if r.sending_at is None else int(r.sending_at),
        tuple(approvers),
        r.artefact,
        r.raw_tx,
    )


def _same_address(network: str, a: str, b: str) -> bool:
    net = network_name(network)
    return normalize(net, a) == normalize(net, b)


class Treasury:
    def __init__(
        self,
        engine: Engine,
        *,
        balances: Mapping[str, TradingVenue],
        capital: Mapping[str, VenueCapital],
        wallets: WalletBalances | None,
        hot_addresses: Mapping[str, str],
        approvals: ApprovalHook,
        required_approvals: int = 2,
        targets: Sequence[VenueTarget] = (),
        networks: Mapping[str, str] | None = None,
        min_transfer: Mapping[str, Decimal] | None = None,
        hot_sender: HotWalletSender | None = None,
        authorize: Authorizer | None = None,
        audit: AuditSink | None = None,
        btc: BtcParams = BTC_PARAMS["regtest"],
        hot_cold: HotCold | None = None,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        self.engine = engine
        self.balances = dict(balances)
        self.capital = dict(capital)
        self.wallets = wallets
        self.btc = btc
        self.hot_addresses: dict[str, str] = {
            str(network_name(n)): validate_address(n, a, btc).address for n, a in hot_addresses.items()
        }
        self.approvals = approvals
        self.required_approvals = required_approvals
        self.targets = list(targets)
        self.networks = dict(networks or {"BTC": "BTC", "ETH": "ETH", "USDT": "ETH"})
        self.min_transfer = dict(min_transfer or {})
        self.hot_sender = hot_sender
        self.authorize = authorize
        self.audit = audit
        self.clock_ms = clock_ms
        self.hot_cold = hot_cold

    # ----- inventory -----
    async def inventory(self) -> Inventory:
        holdings: list[Holding] = []
        unavailable: list[str] = []
        for name, venue in sorted(self.balances.items()):
            try:
                found = await venue.balances()
            except VenueError as exc:
                log.warning("treasury_venue_balances_failed", venue=name, error=str(exc))
                unavailable.append(name)
                continue
            holdings += [Holding(name, "venue", asset, free, locked) for asset, (free, locked) in sorted(found.items())]
        if self.wallets is not None:
            for wallet, amounts in sorted((await self.wallets.wallet_balances()).items()):
                holdings += [
                    Holding(wallet, "wallet", asset, amount, ZERO) for asset, amount in sorted(amounts.items())
                ]
        return Inventory(tuple(holdings), tuple(unavailable))

    # ----- planning -----
    def _network(self, asset: str) -> str:
        network = self.networks.get(asset)
        if network is None:
            raise TreasuryError(f"no network configured for {asset} (treasury.networks)")
        return str(network_name(network))

    def _hot_address(self, network: str) -> str:
        address = self.hot_addresses.get(network)
        if address is None:
            raise TreasuryError(f"no hot wallet address for {network} (treasury.hot_addresses or custody keys)")
        return address

    async def plan(self, proposer: str) -> list[Transfer]:
        """Propose the transfers that bring each targeted venue back to its target; record them (state proposed).

        A venue and asset that already has an open transfer is left alone, so planning twice proposes nothing new.
        Refills from the hot wallet are capped by what the hot wallet holds.
        """
        inventory = await self.inventory()
        busy = {(t.venue, t.asset) for t in self.list_transfers(states=OPEN_STATES)}
        hot_left = {a: inventory.at("hot", a) for a in inventory.assets()}
        made: list[Transfer] = []
        for target in self.targets:
            key = (target.venue, target.asset)
            if key in busy or target.venue in inventory.unavailable or target.venue not in self.balances:
                continue
            held = inventory.at(target.venue, target.asset)
            floor = self.min_transfer.get(target.asset, ZERO)
            if held > target.max and held - target.target > floor:
                amount = held - target.target
                reason = f"{target.venue} holds {held} {target.asset} > max {target.max}: back to {target.target}"
                made.append(await self.propose(VENUE_TO_HOT, target.venue, target.asset, amount, proposer, reason))
            elif held < target.min:
                amount = min(target.target - held, hot_left.get(target.asset, ZERO))
                if amount <= floor or amount <= 0:
                    log.warning(
                        "treasury_hot_wallet_short",
                        venue=target.venue,
                        asset=target.asset,
                        needed=str(target.target - held),
                        hot=str(hot_left.get(target.asset, ZERO)),
                    )
                    continue
                hot_left[target.asset] = hot_left.get(target.asset, ZERO) - amount
                reason = f"{target.venue} holds {held} {target.asset} < min {target.min}: up to {target.target}"
                made.append(await self.propose(HOT_TO_VENUE, target.venue, target.asset, amount, proposer, reason))
        if self.hot_cold is not None:
            made += await self.hot_cold.plan(self, proposer)
        return made

    async def _destination(self, kind: str, venue: str, asset: str, network: str) -> str:
        """The one address a transfer of this kind may pay: Braid's hot wallet, or the venue's deposit address."""
        if kind == VENUE_TO_HOT:
            return self._hot_address(network)
        if kind == HOT_TO_VENUE:
            given = await self._capital(venue).deposit_address(asset, network)
            try:
                return validate_address(network, given, self.btc).address
            except InvalidAddress as exc:
                raise TreasuryError(
                    f"{venue} gave a deposit address that is not a valid {network} address: {exc}"
                ) from exc
        raise TreasuryError(f"transfer kind was {kind!r}, expected {VENUE_TO_HOT} or {HOT_TO_VENUE}")

    def _capital(self, venue: str) -> VenueCapital:
        found = self.capital.get(venue)
        if found is None:
            raise TreasuryError(f"no funding access to venue {venue!r}")
        return found

    async def propose(
        self,
        kind: str,
        venue: str,
        asset: str,
        amount: Decimal,
        proposer: str,
        reason: str = "",
        *,
        address: str | None = None,
    ) -> Transfer:
        """Record one transfer proposal. ``address``, if given, must be the destination Braid would choose itself."""
        if not isinstance(amount, Decimal) or amount <= 0:
            raise TreasuryError(f"amount must be a positive Decimal, was {amount!r}")
        if not proposer.strip():
            raise TreasuryError("a proposal needs the proposing operator's name")
        self._authorized(proposer, "propose", f"{kind}:{venue}:{asset}")
        network = self._network(asset)
        destination = await self._destination(kind, venue, asset, network)
        if address is not None:
            self._check_same(network, address, destination, kind, venue)
        return self._insert(kind, venue, asset, network, amount, destination, proposer, reason)

    async def record(
        self, kind: str, venue: str, asset: str, network: str, amount: Decimal, address: str, proposer: str, reason: str
    ) -> Transfer:
        """Record a proposal whose destination the caller (the hot/cold planner) chose; the proposer is checked."""
        if not isinstance(amount, Decimal) or amount <= 0:
            raise TreasuryError(f"amount must be a positive Decimal, was {amount!r}")
        if not proposer.strip():
            raise TreasuryError("a proposal needs the proposing operator's name")
        self._authorized(proposer, "propose", f"{kind}:{venue}:{asset}")
        return self._insert(kind, venue, asset, network, amount, address, proposer, reason)

    def _insert(
        self,
        kind: str,
        venue: str,
        asset: str,
        network: str,
        amount: Decimal,
        destination: str,
        proposer: str,
        reason: str,
    ) -> Transfer:
        now = self.clock_ms()
        with self.engine.begin() as conn:
            new_id = conn.execute(
                insert(transfers).values(
                    client_id=str(uuid.uuid4()),
                    kind=kind,
                    venue=venue,
                    asset=asset,
                    network=network,
                    amount=amount,
                    address=destination,
                    state="proposed",
                    proposer=proposer,
                    reason=reason[:200],
                    created=now,
                    updated=now,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        log.info("treasury_transfer_proposed", id=new_id, kind=kind, venue=venue, asset=asset, amount=str(amount))
        made = self.get(int(new_id))
        self._audit(proposer, "propose", made)
        return made

    def _check_same(self, network: str, address: str, destination: str, kind: str, venue: str) -> None:
        try:
            given = validate_address(network, address, self.btc).address
        except InvalidAddress as exc:
            raise TreasuryError(f"destination refused: {exc}") from exc
        if not _same_address(network, given, destination):
            whose = "Braid's hot wallet" if kind == VENUE_TO_HOT else f"{venue}'s deposit address"
            raise TreasuryError(f"destination refused: {address} is not {whose} ({destination})")

    # ----- approval -----
    def get(self, transfer_id: int) -> Transfer:
        with self.engine.connect() as conn:
            r = conn.execute(select(transfers).where(transfers.c.id == transfer_id)).first()
        if r is None:
            raise TreasuryError(f"no treasury transfer {transfer_id}")
        return _row(r, self.approvals.approvers(self._subject(transfer_id)))

    def list_transfers(self, states: Sequence[str] | None = None) -> list[Transfer]:
        query = select(transfers).order_by(transfers.c.id)
        if states is not None:
            query = query.where(transfers.c.state.in_(list(states)))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_row(r, self.approvals.approvers(self._subject(int(r.id)))) for r in rows]

    @staticmethod
    def _subject(transfer_id: int) -> str:
        return f"treasury:{transfer_id}"

    def set_state(self, transfer_id: int, expect: Sequence[str], **values: Any) -> bool:
        """Move a row on only from one of the ``expect`` states (for the hot/cold runner)."""
        return self._set(transfer_id, expect, **values)

    def check_approved(self, t: Transfer) -> None:
        """The approval hook's word, checked once more before money moves."""
        if len(set(t.approvers) - {t.proposer}) < self.required_approvals:
            raise TreasuryError(f"transfer {t.id} has {len(t.approvers)} approvals, needs {self.required_approvals}")

    def check_destination(self, t: Transfer, expected: str) -> None:
        """Refuse a hot/cold transfer whose stored destination is not the wallet Braid would pay now."""
        if not _same_address(t.network, t.address, expected):
            raise TreasuryError(f"transfer {t.id} pays {t.address}, Braid's own address there is {expected}")

    def _set(self, transfer_id: int, expect: Sequence[str], **values: Any) -> bool:
        """Move a row on only from one of the ``expect`` states (a second process doing the same loses)."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(transfers)
                .where(transfers.c.id == transfer_id, transfers.c.state.in_(list(expect)))
                .values(updated=self.clock_ms(), **values)
            ).rowcount
        return bool(done)

    def _authorized(self, actor: str, action: str, target: str) -> None:
        if self.authorize is not None:
            self.authorize(actor, action, target)

    def _audit(self, actor: str, action: str, t: Transfer) -> None:
        if self.audit is not None:
            self.audit(
                actor,
                f"treasury.{action}",
                self._subject(t.id),
                {
                    "kind": t.kind,
                    "venue": t.venue,
                    "asset": t.asset,
                    "amount": str(t.amount),
                    "address": t.address,
                    "state": t.state,
                },
            )

    def approve(self, transfer_id: int, actor: str) -> Transfer:
        self._authorized(actor, "approve", self._subject(transfer_id))
        t = self.get(transfer_id)
        if t.state != "proposed":
            raise TreasuryError(f"transfer {transfer_id} is {t.state}, only a proposed transfer can be approved")
        count = self.approvals.approve(self._subject(transfer_id), t.proposer, actor)
        if count >= self.required_approvals:
            self._set(transfer_id, ("proposed",), state="approved")
        log.info(
            "treasury_transfer_approved", id=transfer_id, actor=actor, approvals=count, needed=self.required_approvals
        )
        done = self.get(transfer_id)
        self._audit(actor, "approve", done)
        return done

    def reject(self, transfer_id: int, actor: str) -> Transfer:
        self._authorized(actor, "reject", self._subject(transfer_id))
        if not self._set(
            transfer_id, ("proposed", "approved", "waiting_cold"), state="rejected", error=f"rejected by {actor}"[:300]
        ):
            raise TreasuryError(f"transfer {transfer_id} is {self.get(transfer_id).state}: too late to reject")
        done = self.get(transfer_id)
        self._audit(actor, "reject", done)
        return done

    # ----- execution -----
    async def execute(self, transfer_id: int) -> Transfer:
        """Send an approved transfer (or settle one left ``sending`` by a crash, sending it only if it never left)."""
        t = self.get(transfer_id)
        if t.kind in HOT_COLD_KINDS:
            return await self._hot_cold().execute(self, t)
        if t.state == "sending":
            if t.kind == HOT_TO_VENUE and self.hot_sender is not None:
                return await self._send(t)  # the sender's idempotency key answers a repeat with the first txid
            t = await self._settle(t)
            if t.state != "approved":
                return t
        if t.state != "approved":
            raise TreasuryError(
                f"transfer {transfer_id} is {t.state}; it needs {self.required_approvals} approvals first"
                if t.state == "proposed"
                else f"transfer {transfer_id} is {t.state}, not approved"
            )
        self.check_approved(t)
        destination = await self._destination(t.kind, t.venue, t.asset, t.network)
        self._check_same(t.network, t.address, destination, t.kind, t.venue)
        if t.kind == HOT_TO_VENUE and self.hot_sender is None:
            raise TreasuryError("no hot wallet sender is configured: hot -> venue transfers cannot be sent from here")
        if not self._set(transfer_id, ("approved",), state="sending", sending_at=self.clock_ms(), error=None):
            raise TreasuryError(f"transfer {transfer_id} changed state while starting; look at it again")
        return await self._send(self.get(transfer_id))

    def _hot_cold(self) -> HotCold:
        if self.hot_cold is None:
            raise TreasuryError("hot <-> cold transfers need the custody keys and nodes (custody.hot_limits)")
        return self.hot_cold

    async def attach_cold(self, transfer_id: int, signed: Sequence[str]) -> Transfer:
        """The cold signers' PSBTs (BTC) or signed transaction (ETH/BSC) for a ``waiting_cold`` refill: checked
        against the approved transfer, stored, broadcast."""
        return await self._hot_cold().attach_cold(self, self.get(transfer_id), signed)

    async def _send(self, t: Transfer) -> Transfer:
        try:
            if t.kind == VENUE_TO_HOT:
                ref = await self._capital(t.venue).withdraw(t.asset, t.network, t.amount, t.address, t.client_id)
            else:
                assert self.hot_sender is not None
                ref = await self.hot_sender.send(t.network, t.asset, t.address, t.amount, t.client_id)
        except OrderStateUnknown as exc:
            # It may have gone through: stay ``sending``; the next execute/reconcile asks the venue.
            self._set(t.id, ("sending",), error=f"outcome unknown: {exc}"[:300])
            log.warning("treasury_transfer_unknown", id=t.id, error=str(exc))
            return self.get(t.id)
        except Rejected as exc:
            self._set(t.id, ("sending",), state="failed", error=str(exc)[:300])
            log.warning("treasury_transfer_refused", id=t.id, error=str(exc))
            return self.get(t.id)
        except VenueError as exc:  # not sent (rate limit, unreachable before sending, credentials): try again later
            self._set(t.id, ("sending",), state="approved", error=str(exc)[:300])
            raise TreasuryError(f"transfer {t.id} not sent: {exc}") from exc
        self._set(t.id, ("sending",), state="sent", venue_ref=ref)
        log.info("treasury_transfer_sent", id=t.id, venue=t.venue, ref=ref)
        return self.get(t.id)

    # ----- after a crash -----
    async def reconcile(self) -> list[Transfer]:
        """Settle every ``sending`` transfer from the venue's history and update ``sent`` ones' final state."""
        out = []
        if self.hot_cold is not None:
            for t in self.list_transfers(states=("signed", "sent")):
                if t.kind in HOT_COLD_KINDS:
                    out.append(await self.hot_cold.settle(self, t))
        for t in self.list_transfers(states=("sending", "sent")):
            if t.kind != VENUE_TO_HOT:
                continue  # the hot wallet sender's idempotency key settles these on the next execute
            out.append(await self._settle(t))
        return out

    def _claimed_refs(self, venue: str, but: int) -> set[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(transfers.c.venue_ref).where(
                    transfers.c.venue == venue, transfers.c.venue_ref.is_not(None), transfers.c.id != but
                )
            ).all()
        return {str(r.venue_ref) for r in rows}

    def _match(
        self, t: Transfer, history: Sequence[VenueWithdrawal], supports_client_id: bool
    ) -> VenueWithdrawal | None:
        if t.venue_ref is not None:
            return next((w for w in history if w.venue_ref == t.venue_ref), None)
        if supports_client_id:
            return next((w for w in history if w.client_id == t.client_id), None)
        claimed = self._claimed_refs(t.venue, t.id)
        since = (t.sending_at or t.created) - MATCH_SLACK_MS
        for w in reversed(history):  # oldest first: the earliest unclaimed withdrawal that fits is ours
            if (
                w.venue_ref not in claimed
                and w.amount == t.amount
                and w.time_ms >= since
                and _same_address(t.network, w.address, t.address)
            ):
                return w
        return None

    async def _settle(self, t: Transfer) -> Transfer:
        if t.kind != VENUE_TO_HOT:
            return t
        capital = self._capital(t.venue)
        history = await capital.withdrawals(t.asset)
        found = self._match(t, history, capital.supports_client_id)
        if t.state == "sending":
            if found is None:
                # The venue never took it: safe to send again (with the same client id).
                self._set(t.id, ("sending",), state="approved", error="not at the venue after an interrupted send")
                log.warning("treasury_transfer_not_at_venue", id=t.id)
            else:
                self._set(t.id, ("sending",), state="sent", venue_ref=found.venue_ref)
                log.info("treasury_transfer_found_at_venue", id=t.id, ref=found.venue_ref)
            t = self.get(t.id)
        if t.state == "sent" and found is not None and found.status in ("completed", "failed"):
            self._set(t.id, ("sent",), state=found.status, tx_id=found.tx_id or None)
            t = self.get(t.id)
        return t
