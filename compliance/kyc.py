"""KYC: each account's verification tier, the checks custody and the order path call, operator tier changes
(audited), personal data held encrypted, and data subject requests (export, erase).

:class:`KycStore` is the database side (its own SQLAlchemy engine on the ledger's database; blocking calls,
run them off the event loop with ``asyncio.to_thread``). :class:`Kyc` holds the tiers in memory so the order
path never waits on the database; it notices tier changes made by other processes (``braid kyc set-tier``
while ``braid serve`` runs) within ``refresh_s``.

Functions custody calls::

    kyc.deposit_allowed(account, asset, amount_in_quote, deposit_id=None) -> Decision
    kyc.withdrawal_allowed(account, asset, amount, now_ms, history=None, withdrawal_id=None) -> Decision

A deposit whose decision is not ``allowed`` is credited but locked; a withdrawal is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import orjson
import structlog
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from compliance.kyc_models import (
    kyc_accounts,
    kyc_pii,
    kyc_provider_refs,
    kyc_tier_history,
    kyc_travel_rule,
    kyc_webhook_events,
)
from compliance.pii import KeyRing, PiiError, Sealed
from compliance.tiers import (
    ALLOW,
    Decision,
    PastWithdrawal,
    deposit_decision,
    month_start_ms,
    withdrawal_decision,
)
from config.kyc import TIERS, KycSettings, TierLimits
from domain import now_ms
from wallets.db import create_db_engine
from wallets.migrations import prepare

log = structlog.get_logger(__name__)

PriceOf = Callable[[str], Decimal | None]  # an asset's price in the quote currency (consolidated mid), or None
# (actor, source ip, action, target, details): the audit log's entry point; a no-op until one is given
Audit = Callable[[str, str, str, str, dict[str, Any]], object]  # the audit log's record fits
WithdrawalHistory = Callable[[int, int], Iterable[PastWithdrawal]]  # (account, since_ms) -> withdrawals
PII_TABLE = "kyc_pii"


def no_audit(actor: str, ip: str, action: str, target: str, details: dict[str, Any]) -> None:
    """The default audit hook: records nothing (the audit log is wired in by the caller)."""


class KycError(Exception):
    """A KYC request that cannot be done (unknown tier, unknown account record, bad input)."""


class KycStore:
    """The KYC tables and the personal-data key ring on one database."""

    def __init__(self, url: str, master_key: bytes, *, schema: str | None = None, migrate: bool = True) -> None:
        self.engine: Engine = create_db_engine(url, writer=True, schema=schema)
        if migrate:
            prepare(self.engine, url, schema=schema)
        self.master = master_key
        with self.engine.begin() as conn:
            self.ring = KeyRing.load(conn, master_key, now_ms())

    def close(self) -> None:
        self.engine.dispose()

    # ----- tiers -----
    def tiers(self, since_ms: int = -1) -> dict[int, tuple[int, int]]:
        """account -> (tier, updated_ms) for rows changed after ``since_ms``."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(kyc_accounts).where(kyc_accounts.c.updated_ms > since_ms)).all()
        return {r.account_id: (r.tier, r.updated_ms) for r in rows}

    def set_tier(self, account: int, tier: int, *, source: str, actor: str, reason: str, ts_ms: int) -> int:
        """Store the new tier and its history row in one transaction; returns the old tier."""
        with self.engine.begin() as conn:
            row = conn.execute(select(kyc_accounts.c.tier).where(kyc_accounts.c.account_id == account)).first()
            old = 0 if row is None else int(row.tier)
            if row is None:
                conn.execute(insert(kyc_accounts).values(account_id=account, tier=tier, updated_ms=ts_ms))
            else:
                conn.execute(
                    update(kyc_accounts).where(kyc_accounts.c.account_id == account).values(tier=tier, updated_ms=ts_ms)
                )
            conn.execute(
                insert(kyc_tier_history).values(
                    account_id=account,
                    old_tier=old,
                    new_tier=tier,
                    source=source,
                    actor=actor,
                    reason=reason,
                    ts_ms=ts_ms,
                )
            )
        return old

    def history(self, account: int) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(kyc_tier_history).where(kyc_tier_history.c.account_id == account).order_by(kyc_tier_history.c.id)
            ).all()
        return [
            {
                "from": r.old_tier,
                "to": r.new_tier,
                "source": r.source,
                "actor": r.actor,
                "reason": r.reason,
                "time": r.ts_ms,
            }
            for r in rows
        ]

    # ----- personal data -----
    def put_pii(self, account: int, fields: dict[str, str], ts_ms: int) -> None:
        """Store (replace) personal fields, each sealed under the newest key bound to (account, field)."""
        with self.engine.begin() as conn:
            for name, value in fields.items():
                s = self.ring.seal(PII_TABLE, str(account), name, value)
                conn.execute(delete(kyc_pii).where(kyc_pii.c.account_id == account, kyc_pii.c.field == name))
                conn.execute(
                    insert(kyc_pii).values(
                        account_id=account,
                        field=name,
                        key_id=s.key_id,
                        nonce=s.nonce,
                        ciphertext=s.ciphertext,
                        updated_ms=ts_ms,
                    )
                )

    def pii(self, account: int) -> dict[str, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(kyc_pii).where(kyc_pii.c.account_id == account)).all()
        return {
            r.field: self.ring.open(PII_TABLE, str(account), r.field, Sealed(r.key_id, r.nonce, r.ciphertext))
            for r in rows
        }

    # ----- provider references and webhook replay guard -----
    def link(self, provider: str, ref_id: str, kind: str, account: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(kyc_provider_refs).values(
                    provider=provider, ref_id=ref_id, kind=kind, account_id=account, created_ms=now_ms()
                )
            )

    def account_of(self, provider: str, ref_id: str) -> int | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(kyc_provider_refs.c.account_id).where(
                    kyc_provider_refs.c.provider == provider, kyc_provider_refs.c.ref_id == ref_id
                )
            ).first()
        return None if row is None else int(row.account_id)

    def first_delivery(self, provider: str, event_keys: list[str], outcome: str) -> bool:
        """Record a webhook delivery under each of its keys (body digest, event id) in one transaction;
        False if any was recorded before (a replay), and then nothing is recorded."""
        try:
            with self.engine.begin() as conn:
                for key in event_keys:
                    conn.execute(
                        insert(kyc_webhook_events).values(
                            provider=provider, event_key=key[:128], received_ms=now_ms(), outcome=outcome
                        )
                    )
        except IntegrityError:
            return False
        return True

    # ----- Travel Rule records (sealed IVMS 101 JSON) -----
    def put_travel_rule(self, kind: str, ref_id: str, payload: dict[str, Any]) -> None:
        s = self.ring.seal("kyc_travel_rule", f"{kind}:{ref_id}", "ivms101", orjson.dumps(payload).decode())
        with self.engine.begin() as conn:
            t = kyc_travel_rule
            conn.execute(delete(t).where(t.c.kind == kind, t.c.ref_id == ref_id))
            conn.execute(
                insert(kyc_travel_rule).values(
                    kind=kind,
                    ref_id=ref_id,
                    key_id=s.key_id,
                    nonce=s.nonce,
                    ciphertext=s.ciphertext,
                    created_ms=now_ms(),
                )
            )

    def travel_rule(self, kind: str, ref_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            r = conn.execute(
                select(kyc_travel_rule).where(kyc_travel_rule.c.kind == kind, kyc_travel_rule.c.ref_id == ref_id)
            ).first()
        if r is None:
            return None
        text = self.ring.open("kyc_travel_rule", f"{kind}:{ref_id}", "ivms101", Sealed(r.key_id, r.nonce, r.ciphertext))
        out: dict[str, Any] = orjson.loads(text)
        return out

    # ----- key rotation -----
    def rotate(self) -> dict[str, int]:
        """A new data key; every sealed record re-encrypted under it; then the older keys dropped.

        Each record is rewritten in its own small transaction, so the service keeps working during a long
        rotation; if it stops half-way, old keys are still in the ring and a second run finishes the job.
        """
        with self.engine.begin() as conn:
            new = self.ring.add_key(conn, self.master, now_ms())
        count = 0
        for table, ident in ((kyc_pii, ("account_id", "field")), (kyc_travel_rule, ("kind", "ref_id"))):
            with self.engine.connect() as conn:
                stale = conn.execute(select(table).where(table.c.key_id != new)).all()
            for r in stale:
                row_id, field = _identity(table.name, r)
                plain = self.ring.open(table.name, row_id, field, Sealed(r.key_id, r.nonce, r.ciphertext))
                s = self.ring.seal(table.name, row_id, field, plain)
                where = [table.c[c] == getattr(r, c) for c in ident]
                with self.engine.begin() as conn:  # only if nobody rewrote it meanwhile
                    conn.execute(
                        update(table)
                        .where(*where, table.c.key_id == r.key_id, table.c.nonce == r.nonce)
                        .values(key_id=s.key_id, nonce=s.nonce, ciphertext=s.ciphertext)
                    )
                count += 1
        with self.engine.begin() as conn:
            left = sum(
                len(conn.execute(select(t.c.key_id).where(t.c.key_id != new)).all()) for t in (kyc_pii, kyc_travel_rule)
            )
            dropped = self.ring.drop_older(conn) if left == 0 else []
        log.info("kyc_pii_rotated", key_id=new, records=count, dropped=dropped, left=left)
        return {"keyId": new, "reencrypted": count, "keysDropped": len(dropped), "left": left}

    # ----- data subject requests -----
    def erase(self, account: int) -> int:
        """Delete the account's personal fields and provider references; returns how many fields went."""
        with self.engine.begin() as conn:
            n = conn.execute(delete(kyc_pii).where(kyc_pii.c.account_id == account)).rowcount
            conn.execute(delete(kyc_provider_refs).where(kyc_provider_refs.c.account_id == account))
        return int(n or 0)

    def refs(self, account: int) -> list[dict[str, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(kyc_provider_refs).where(kyc_provider_refs.c.account_id == account)).all()
        return [{"provider": r.provider, "id": r.ref_id, "kind": r.kind} for r in rows]


def _identity(table: str, r: Any) -> tuple[str, str]:
    if table == PII_TABLE:
        return str(r.account_id), r.field
    return f"{r.kind}:{r.ref_id}", "ivms101"


class Kyc:
    """Tiers in memory over a :class:`KycStore`, and the checks the order path and custody call."""

    def __init__(
        self,
        settings: KycSettings,
        store: KycStore,
        price_of: PriceOf,
        *,
        audit: Audit = no_audit,
        history: WithdrawalHistory | None = None,
        refresh_s: float = 2.0,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        self.settings = settings
        self.store = store
        self.price_of = price_of
        self.audit = audit
        self.history = history
        self.refresh_s = refresh_s
        self.clock_ms = clock_ms
        self._tiers: dict[int, int] = {}
        self._seen_ms = -1
        self._next_refresh = 0.0
        self.refresh()

    # ----- tiers -----
    def refresh(self) -> None:
        """Pick up tier changes stored by other processes."""
        for account, (tier, updated) in self.store.tiers(self._seen_ms).items():
            self._tiers[account] = tier
            self._seen_ms = max(self._seen_ms, updated)
        self._next_refresh = time.monotonic() + self.refresh_s

    def tier(self, account: int | str) -> int:
        if time.monotonic() >= self._next_refresh:
            self.refresh()
        return self._tiers.get(int(account), 0)

    def limits(self, account: int | str) -> TierLimits:
        """The account's limits (what the order path's pre-trade check reads)."""
        return self.settings.limits(self.tier(account))

    def set_tier(
        self, account: int, tier: int, *, reason: str, actor: str, ip: str = "", source: str = "operator"
    ) -> dict[str, Any]:
        """Move an account to ``tier``; recorded with who, why and from where, and sent to the audit hook."""
        if tier not in TIERS:
            raise KycError(f"tier must be one of {TIERS}, received {tier}")
        if not reason.strip():
            raise KycError("a reason is required to change a tier")
        ts = self.clock_ms()
        old = self.store.set_tier(account, tier, source=source, actor=actor, reason=reason, ts_ms=ts)
        self._tiers[account] = tier
        self._seen_ms = max(self._seen_ms, ts)
        self.audit(
            actor,
            ip,
            "kyc.set_tier",
            f"account:{account}",
            {"from": old, "to": tier, "reason": reason, "source": source},
        )
        log.info("kyc_tier_set", account=account, old=old, new=tier, source=source, actor=actor)
        return {"account": account, "from": old, "to": tier, "source": source, "actor": actor, "reason": reason}

    # ----- valuation -----
    def value(self, asset: str, amount: Decimal) -> Decimal | None:
        """``amount`` of ``asset`` in the quote currency at the current price (``None`` without one)."""
        if asset == self.settings.quote_asset:
            return amount
        price = self.price_of(asset)
        return None if price is None else amount * price

    # ----- checks custody calls -----
    def deposit_allowed(
        self, account: int, asset: str, amount_in_quote: Decimal | None, deposit_id: str | None = None
    ) -> Decision:
        """May this deposit be credited free? If not, credit it locked (the money is the client's either way).

        With ``deposit_id``, a deposit at or above the Travel Rule threshold also waits for its originator's
        details (:func:`compliance.travel_rule.attach_originator`).
        """
        tier = self.tier(account)
        found = deposit_decision(tier, self.settings.limits(tier), amount_in_quote, self.settings.quote_asset)
        if found.allowed and self._travel_rule_missing("deposit", deposit_id, amount_in_quote):
            found = Decision(
                False,
                "TRAVEL_RULE_ORIGINATOR_MISSING",
                "the originator's details (IVMS 101) are needed before this deposit is released",
            )
        if not found.allowed:
            log.info("kyc_deposit_locked", account=account, asset=asset, value=str(amount_in_quote), code=found.code)
        return found

    def withdrawal_allowed(
        self,
        account: int,
        asset: str,
        amount: Decimal,
        now: int,
        history: Iterable[PastWithdrawal] | None = None,
        withdrawal_id: str | None = None,
    ) -> Decision:
        """May the account withdraw ``amount`` of ``asset`` at ``now`` (ms)?

        ``history``: the account's earlier withdrawals (at least this calendar month's); without it the
        ``history`` callable given at construction is asked. With ``withdrawal_id``, one at or above the
        Travel Rule threshold also needs the beneficiary's details attached first.
        """
        tier = self.tier(account)
        value = self.value(asset, amount)
        if history is None:
            if self.history is None:
                raise KycError("no withdrawal history given and no history source configured")
            history = self.history(account, month_start_ms(now))
        past = []
        for w in history:
            v = w.value if w.value is not None else self.value(w.asset, w.amount)
            if v is None:
                return Decision(False, "KYC_NO_PRICE", f"an earlier withdrawal of {w.asset} cannot be valued")
            past.append((w.ts_ms, v))
        found = withdrawal_decision(tier, self.settings.limits(tier), value, now, past, self.settings.quote_asset)
        if found.allowed and self._travel_rule_missing("withdrawal", withdrawal_id, value):
            found = Decision(
                False,
                "TRAVEL_RULE_BENEFICIARY_MISSING",
                "the beneficiary's details (IVMS 101) are required for a withdrawal of this size",
            )
        if not found.allowed:
            log.info("kyc_withdrawal_refused", account=account, asset=asset, amount=str(amount), code=found.code)
        return found if not found.allowed else ALLOW

    def _travel_rule_missing(self, kind: str, ref_id: str | None, value: Decimal | None) -> bool:
        """A transfer at or above the Travel Rule threshold whose IVMS 101 details are not on file."""
        return (
            ref_id is not None
            and value is not None
            and value >= self.settings.travel_rule_threshold
            and self.store.travel_rule(kind, ref_id) is None
        )

    # ----- data subject requests -----
    def export(self, account: int) -> dict[str, Any]:
        """Everything held about the person, decrypted."""
        try:
            pii = self.store.pii(account)
        except PiiError as exc:
            raise KycError(str(exc)) from exc
        return {
            "account": account,
            "tier": self.tier(account),
            "personalData": pii,
            "providerReferences": self.store.refs(account),
            "tierHistory": self.store.history(account),
        }

    def erase(self, account: int, *, actor: str, ip: str = "") -> dict[str, Any]:
        """Erase the person's data; keep what the law requires to keep, without personal fields."""
        n = self.store.erase(account)
        self.audit(actor, ip, "kyc.erase", f"account:{account}", {"fieldsErased": n})
        log.info("kyc_erased", account=account, fields=n, actor=actor)
        return {
            "account": account,
            "fieldsErased": n,
            "kept": [
                "tier and tier history (who changed it, when, why)",
                "audit entries (no personal fields)",
                "Travel Rule records of past transfers (record-keeping duty, FATF R.16)",
            ],
        }
