"""The screening service: names at onboarding and on list updates, addresses and AML rules on money events.

Custody calls ``check_deposit`` before crediting a deposit and ``check_withdrawal`` before sending one; the
order path calls ``observe_trade`` after a fill (each builds a ``MoneyEvent`` for ``check``). Each call is
idempotent on (kind, ref): a repeat (after a
crash, say) returns the decision already made. A ``GateDecision`` with ``allowed=False`` carries the
``Hold``: custody keeps the money where it is until the hold's case is closed, which releases or returns it
(``CaseService.on_hold_resolved`` tells custody; ``CaseService.hold(direction, ref)`` answers a poll).

All the alerts one event raises (a sanctioned counterparty, active AML rules) go into one case with all the
evidence; the money is held when any of them holds. Shadow-mode alerts are only recorded.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import orjson
import structlog
from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from compliance import models
from compliance.aml import (
    AML_NONE,
    Alert,
    Context,
    MoneyEvent,
    Monitor,
    RuleSet,
    iso,
    load_rules,
)
from compliance.anomaly import AnomalyModel
from compliance.audit import AuditLog
from compliance.cases import SYSTEM, AuditHook, Authorizer, Case, CaseService, Hold
from compliance.names import NameIndex, normalise
from compliance.sanctions import SanctionsList, normalise_address
from domain import now_ms

log = structlog.get_logger(__name__)


class NoListLoaded(RuntimeError):
    """No sanctions list is loaded: screening cannot decide (load one with `braid compliance sanctions load`)."""


@dataclass(frozen=True, slots=True)
class NameHit:
    entry_uid: int
    entry_name: str
    listed_name: str  # the spelling that matched (primary name or alias)
    kind: str
    programs: tuple[str, ...]
    score: float
    birth_dates: tuple[str, ...]
    countries: tuple[str, ...]
    country_match: bool | None  # None when either side has no country

    def as_json(self) -> dict[str, Any]:
        return {
            "uid": self.entry_uid,
            "name": self.entry_name,
            "matched": self.listed_name,
            "kind": self.kind,
            "programs": list(self.programs),
            "score": self.score,
            "dob": list(self.birth_dates),
            "countries": list(self.countries),
            "countryMatch": self.country_match,
        }


@dataclass(frozen=True, slots=True)
class ScreeningResult:
    """A name screening decision: ``hit`` when any listed name scores at least the threshold."""

    decision: str  # clear | hit
    name: str
    hits: tuple[NameHit, ...]
    dismissed: tuple[NameHit, ...]  # name matches ruled out because the birth dates differ
    threshold: float
    list_id: int
    list_version: str
    case_id: int | None = None

    @property
    def is_hit(self) -> bool:
        return self.decision == "hit"


@dataclass(frozen=True, slots=True)
class AddressHit:
    entry_uid: int
    entry_name: str
    ticker: str
    listed: str  # the address as the list writes it


@dataclass(frozen=True, slots=True)
class AddressScreening:
    decision: str  # clear | hit
    chain: str
    address: str
    hits: tuple[AddressHit, ...]
    list_id: int
    list_version: str


@dataclass(frozen=True, slots=True)
class LoadResult:
    list_id: int
    new: bool  # False: this publication was loaded before
    rescreened: tuple[tuple[int, ScreeningResult], ...]  # (account id, result) of every known customer


@dataclass(frozen=True, slots=True)
class GateDecision:
    """What custody or the order path gets back: go ahead, or the hold that stops the money."""

    allowed: bool
    hold: Hold | None
    case_id: int | None
    alerts: tuple[Alert, ...]
    list_version: str


class AddressIndex:
    """Listed digital currency addresses by normalised form: one dict lookup per check."""

    def __init__(self, lst: SanctionsList) -> None:
        idx: dict[str, list[AddressHit]] = {}
        for e in lst.entries:
            for a in e.addresses:
                idx.setdefault(normalise_address(a.address), []).append(AddressHit(e.uid, e.name, a.ticker, a.address))
        self._idx = {k: tuple(v) for k, v in idx.items()}

    def __len__(self) -> int:
        return len(self._idx)

    def lookup(self, address: str) -> tuple[AddressHit, ...]:
        # EVM addresses compare case-insensitively on every EVM chain (one address space); base58 exactly
        return self._idx.get(normalise_address(address), ())


@dataclass(frozen=True)
class LoadedList:
    list_id: int
    lst: SanctionsList
    names: NameIndex
    addresses: AddressIndex

    @property
    def label(self) -> str:
        return self.lst.version.label

    def listing_reason(self, address: str) -> str | None:
        """Why ``address`` is risky (its SDN listing), or None."""
        hits = self.addresses.lookup(address)
        return f"listed for SDN {hits[0].entry_name} ({hits[0].ticker})" if hits else None

    @classmethod
    def build(cls, list_id: int, lst: SanctionsList) -> LoadedList:
        names = NameIndex((e.uid, n, i > 0) for e in lst.entries for i, n in enumerate((e.name, *e.aliases)))
        return cls(list_id, lst, names, AddressIndex(lst))


def _dob_compatible(query: str, listed: Iterable[str]) -> bool:
    """A listed birth date ("1977-03-25", "1977-03" or "1977") agrees with the query to its own precision."""
    ds = list(listed)
    return not ds or any(query[: len(d)] == d[: len(query)] for d in ds)


def _country_key(c: str) -> str:
    return normalise(c)


class Screening:
    """Sanctions screening and AML monitoring with their records and cases, on one database."""

    def __init__(
        self,
        engine: Engine,
        *,
        cases: CaseService | None = None,
        threshold: float = 0.90,
        rules: RuleSet | None = None,
        high_risk_countries: Iterable[str] = (),
        anomaly_min_training: int = 50,
        clock: Callable[[], int] = now_ms,
        audit: AuditHook | None = None,
    ) -> None:
        if not 0 < threshold <= 1:
            raise ValueError(f"name threshold must be in (0, 1], was {threshold}")
        self.engine = engine
        self.audit = audit  # list loads go into the audit log through it
        self.cases = cases or CaseService(engine, clock=clock, audit=audit)
        self.threshold = threshold
        self.clock = clock
        self.anomaly = AnomalyModel(random_state=0)
        self.anomaly_min_training = anomaly_min_training
        self._loaded: LoadedList | None = None
        self._case_addresses: dict[str, int] = {}
        self.monitor = Monitor(
            rules or AML_NONE,
            Context(
                high_risk_countries=frozenset(c.upper() for c in high_risk_countries),
                counterparty=self._counterparty_reason,
                anomaly_score=self.anomaly.score,
            ),
        )
        self._restore()

    # ---------------------------------------------------------------------------------------- lists

    def load(self, lst: SanctionsList, actor: str = SYSTEM) -> LoadResult:
        """Store ``lst`` as the current version and re-screen every known customer against it.

        A publication loaded before (same SHA-256) is not stored again, nor are customers re-screened.
        """
        v = lst.version
        with self.engine.begin() as conn:
            old = conn.execute(
                select(models.sanctions_lists.c.list_id).where(models.sanctions_lists.c.sha256 == v.sha256)
            ).scalar()
            if old is not None:
                return LoadResult(int(old), False, ())
            payload = zlib.compress(orjson.dumps(lst.to_json()), 6)
            list_id = conn.execute(
                insert(models.sanctions_lists)
                .values(
                    published=v.published,
                    sha256=v.sha256,
                    source=v.source,
                    files=orjson.dumps(list(v.files)).decode(),
                    entry_count=len(lst.entries),
                    address_count=sum(len(e.addresses) for e in lst.entries),
                    loaded_ms=self.clock(),
                    loaded_by=actor,
                    payload=payload,
                )
                .returning(models.sanctions_lists.c.list_id)
            ).scalar_one()
        self._loaded = LoadedList.build(int(list_id), lst)
        log.info("sanctions list loaded", list_id=list_id, version=v.label, entries=len(lst.entries))
        if self.audit is not None:
            self.audit(
                actor,
                "local",
                "sanctions.load",
                f"list:{list_id}",
                {
                    "published": v.published,
                    "sha256": v.sha256,
                    "source": v.source,
                    "entries": len(lst.entries),
                    "addresses": sum(len(e.addresses) for e in lst.entries),
                },
            )
        return LoadResult(int(list_id), True, tuple(self.rescreen_customers()))

    def refresh(self) -> bool:
        """Take up a list version another process loaded since (one small query); True if it changed."""
        with self.engine.connect() as conn:
            newest = conn.execute(select(func.max(models.sanctions_lists.c.list_id))).scalar()
            if newest is None or (self._loaded is not None and newest <= self._loaded.list_id):
                return False
            payload = conn.execute(
                select(models.sanctions_lists.c.payload).where(models.sanctions_lists.c.list_id == newest)
            ).scalar_one()
        self._loaded = LoadedList.build(int(newest), SanctionsList.from_json(orjson.loads(zlib.decompress(payload))))
        log.info("sanctions list taken up", list_id=newest, version=self._loaded.label)
        return True

    @property
    def loaded(self) -> LoadedList | None:
        """The current list, or None before any is loaded."""
        return self._loaded

    @property
    def current(self) -> LoadedList:
        if self._loaded is None:
            raise NoListLoaded("no sanctions list is loaded: run `braid compliance sanctions load FILE...`")
        return self._loaded

    def status(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    models.sanctions_lists.c.list_id,
                    models.sanctions_lists.c.published,
                    models.sanctions_lists.c.sha256,
                    models.sanctions_lists.c.source,
                    models.sanctions_lists.c.entry_count,
                    models.sanctions_lists.c.address_count,
                    models.sanctions_lists.c.loaded_ms,
                    models.sanctions_lists.c.loaded_by,
                ).order_by(models.sanctions_lists.c.list_id)
            ).all()
            n_customers = conn.execute(select(func.count()).select_from(models.customers)).scalar_one()
            n_hits = conn.execute(
                select(func.count()).select_from(models.customers).where(models.customers.c.status == "hit")
            ).scalar_one()
        return {
            "current": rows[-1].list_id if rows else None,
            "lists": [
                {
                    "list": r.list_id,
                    "published": r.published,
                    "sha256": r.sha256,
                    "source": r.source,
                    "entries": r.entry_count,
                    "addresses": r.address_count,
                    "loaded": iso(r.loaded_ms),
                    "loadedBy": r.loaded_by,
                }
                for r in rows
            ],
            "customers": n_customers,
            "customersHit": n_hits,
            "threshold": self.threshold,
        }

    # ---------------------------------------------------------------------------------------- names

    def _name_decision(
        self, full_name: str, birth_date: str | None, country: str | None
    ) -> tuple[list[NameHit], list[NameHit]]:
        cur = self.current
        best: dict[int, NameHit] = {}
        for m in cur.names.search(full_name, self.threshold):
            if m.entry_uid in best:
                continue  # results come best first
            e = cur.lst.by_uid[m.entry_uid]
            cm = None
            if country and e.countries:
                cm = _country_key(country) in {_country_key(c) for c in e.countries}
            best[m.entry_uid] = NameHit(
                e.uid, e.name, m.listed_name, e.kind, e.programs, m.score, e.birth_dates, e.countries, cm
            )
        hits: list[NameHit] = []
        dismissed: list[NameHit] = []
        for h in best.values():
            (hits if birth_date is None or _dob_compatible(birth_date, h.birth_dates) else dismissed).append(h)
        return hits, dismissed

    def screen_name(
        self,
        full_name: str,
        birth_date: date | str | None = None,
        country: str | None = None,
        *,
        account_id: int | None = None,
    ) -> ScreeningResult:
        """Screen a customer's name (the KYC side calls this at onboarding).

        A listed name scoring at least the threshold is a hit unless the birth dates disagree (then it is
        listed under ``dismissed``). A hit opens a case. With ``account_id`` the customer is remembered and
        re-screened whenever a new list version is loaded.
        """
        if not full_name or not normalise(full_name):
            raise ValueError("a name to screen is required")
        dob = birth_date.isoformat() if isinstance(birth_date, date) else birth_date
        self.refresh()
        cur = self.current
        hits, dismissed = self._name_decision(full_name, dob, country)
        decision = "hit" if hits else "clear"
        with self.engine.begin() as conn:
            case_id = None
            if hits:
                who = f"account {account_id}" if account_id is not None else "onboarding"
                case = self.cases.open_case(
                    conn,
                    kind="sanctions-name",
                    account_id=account_id,
                    summary=f"{who}: name {full_name!r} matches SDN {hits[0].entry_name!r} ({hits[0].score:.3f})",
                    evidence={
                        "rule": "sanctions-name",
                        "name": full_name,
                        "birthDate": dob,
                        "country": country,
                        "listVersion": cur.label,
                        "listId": cur.list_id,
                        "threshold": self.threshold,
                        "hits": [h.as_json() for h in hits],
                    },
                    dedupe_key=f"name:{account_id if account_id is not None else normalise(full_name)}:"
                    f"{','.join(str(h.entry_uid) for h in hits)}",
                )
                case_id = case.case_id
            self._record(conn, "name", full_name, account_id, decision, [h.as_json() for h in hits], case_id)
            if account_id is not None:
                self._remember_customer(conn, account_id, full_name, dob, country, decision)
        return ScreeningResult(
            decision, full_name, tuple(hits), tuple(dismissed), self.threshold, cur.list_id, cur.label, case_id
        )

    def rescreen_customers(self) -> list[tuple[int, ScreeningResult]]:
        """Screen every known customer against the current list (run after each load)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(models.customers).order_by(models.customers.c.account_id)).all()
        return [
            (r.account_id, self.screen_name(r.full_name, r.birth_date, r.country, account_id=r.account_id))
            for r in rows
        ]

    def _remember_customer(
        self, conn: Connection, account_id: int, name: str, dob: str | None, country: str | None, decision: str
    ) -> None:
        values = {
            "full_name": name,
            "birth_date": dob,
            "country": country,
            "list_id": self.current.list_id,
            "status": decision,
            "updated_ms": self.clock(),
        }
        done = conn.execute(
            update(models.customers).where(models.customers.c.account_id == account_id).values(**values)
        ).rowcount
        if not done:
            conn.execute(insert(models.customers).values(account_id=account_id, **values))

    # ---------------------------------------------------------------------------------------- addresses

    def screen_address(self, chain: str, address: str) -> AddressScreening:
        """Is ``address`` a listed digital currency address? (Recorded with the list version.)"""
        result = self._address(chain, address)
        with self.engine.begin() as conn:
            self._record(
                conn, "address", f"{chain}:{address}", None, result.decision, [_hit_json(h) for h in result.hits], None
            )
        return result

    def _address(self, chain: str, address: str) -> AddressScreening:
        cur = self.current
        hits = cur.addresses.lookup(address)
        return AddressScreening("hit" if hits else "clear", chain, address, hits, cur.list_id, cur.label)

    def _counterparty_reason(self, chain: str | None, address: str) -> str | None:
        listed = self._loaded.listing_reason(address) if self._loaded else None
        if listed:
            return listed
        case_id = self._case_addresses.get(normalise_address(address))
        if case_id is not None:
            return f"seen in case {case_id}"
        return None

    # ---------------------------------------------------------------------------------------- money events

    def check_deposit(
        self,
        *,
        account_id: int,
        chain: str,
        source_address: str | None,
        ref: str,
        asset: str,
        amount: Decimal,
        value: Decimal,
        time_ms: int | None = None,
        country: str | None = None,
    ) -> GateDecision:
        """Custody, before crediting a deposit: screen its source and run the AML rules. ``ref`` = txid:vout."""
        return self.check(
            MoneyEvent(
                "deposit",
                account_id,
                asset,
                amount,
                value,
                time_ms or self.clock(),
                ref,
                chain,
                source_address,
                country,
            )
        )

    def check_withdrawal(
        self,
        *,
        account_id: int,
        chain: str,
        destination: str,
        ref: str,
        asset: str,
        amount: Decimal,
        value: Decimal,
        time_ms: int | None = None,
        country: str | None = None,
    ) -> GateDecision:
        """Custody, before sending a withdrawal: screen its destination and run the AML rules (anomaly included)."""
        return self.check(
            MoneyEvent(
                "withdrawal",
                account_id,
                asset,
                amount,
                value,
                time_ms or self.clock(),
                ref,
                chain,
                destination,
                country,
            )
        )

    def observe_trade(
        self, *, account_id: int, asset: str, amount: Decimal, value: Decimal, ref: str, time_ms: int | None = None
    ) -> GateDecision:
        """The order path, after a fill: trades feed the rules (and can raise alerts, never holds)."""
        return self.check(MoneyEvent("trade", account_id, asset, amount, value, time_ms or self.clock(), ref))

    def check(self, e: MoneyEvent) -> GateDecision:
        """Screen and monitor one money event (the wrappers above build it); idempotent on (kind, ref)."""
        self.refresh()
        cur = self.current
        with self.engine.connect() as conn:
            seen = conn.execute(
                select(models.events.c.event_id).where(models.events.c.kind == e.kind, models.events.c.ref == e.ref)
            ).first()
        if seen is not None:
            return self._decided(e, cur.label)
        try:
            return self._decide(e, cur)
        except IntegrityError:
            # another process recorded the same (kind, ref) first: its decision stands
            return self._decided(e, cur.label)

    def _decided(self, e: MoneyEvent, label: str) -> GateDecision:
        held = self.cases.hold(e.kind, e.ref) if e.kind != "trade" else None
        return GateDecision(held is None or held.status == "released", held, held.case_id if held else None, (), label)

    def _decide(self, e: MoneyEvent, cur: LoadedList) -> GateDecision:
        screening = self._address(e.chain or "", e.address) if e.address else None
        alerts = self.monitor.evaluate(e)
        active = [a for a in alerts if a.mode == "active"]
        must_hold = e.kind != "trade" and (
            bool(screening and screening.hits) or any(a.action == "hold" for a in active)
        )
        case: Case | None = None
        hold: Hold | None = None
        with self.engine.begin() as conn:
            conn.execute(
                insert(models.events).values(
                    kind=e.kind,
                    ref=e.ref,
                    account_id=e.account_id,
                    asset=e.asset,
                    amount=e.amount,
                    value=e.value,
                    time_ms=e.time_ms,
                    chain=e.chain,
                    address=e.address,
                    country=e.country,
                )
            )
            if (screening and screening.hits) or active:
                reasons = ([f"sanctioned {e.kind} address {e.address}"] if screening and screening.hits else []) + [
                    f"{a.rule_id}: {a.detail}" for a in active
                ]
                evidence = {
                    "event": _event_json(e),
                    "listVersion": cur.label,
                    "listId": cur.list_id,
                    "sanctions": [_hit_json(h) for h in screening.hits] if screening else [],
                    "alerts": [
                        {"rule": a.rule_id, "action": a.action, "detail": a.detail, "anomalyScore": a.anomaly_score}
                        for a in active
                    ],
                    "rule": "sanctions-address" if screening and screening.hits else active[0].rule_id,
                    "anomalyScore": next((a.anomaly_score for a in alerts if a.anomaly_score is not None), None),
                }
                case = self.cases.open_case(
                    conn,
                    kind="sanctions-address" if screening and screening.hits else "aml",
                    account_id=e.account_id,
                    summary=f"{e.kind} {e.ref}: " + "; ".join(reasons),
                    evidence=evidence,
                    dedupe_key=f"event:{e.kind}:{e.ref}",
                )
                if e.address:
                    self._case_addresses[normalise_address(e.address)] = case.case_id
                if must_hold:
                    hold = self.cases.place_hold(
                        conn,
                        case_id=case.case_id,
                        account_id=e.account_id,
                        direction=e.kind,
                        ref=e.ref,
                        chain=e.chain,
                        address=e.address,
                        asset=e.asset,
                        amount=e.amount,
                    )
            if screening is not None:
                self._record(
                    conn,
                    "address",
                    f"{e.chain}:{e.address}",
                    e.account_id,
                    screening.decision,
                    [_hit_json(h) for h in screening.hits],
                    case.case_id if case and screening.hits else None,
                )
            for a in alerts:
                conn.execute(
                    insert(models.alerts).values(
                        rule_id=a.rule_id,
                        mode=a.mode,
                        account_id=e.account_id,
                        event_kind=e.kind,
                        event_ref=e.ref,
                        detail=a.detail,
                        time_ms=e.time_ms,
                        case_id=case.case_id if case is not None and a.mode == "active" else None,
                    )
                )
        if hold is not None:
            log.warning("money held", kind=e.kind, ref=e.ref, case_id=hold.case_id, account_id=e.account_id)
        return GateDecision(hold is None, hold, case.case_id if case else None, tuple(alerts), cur.label)

    def train_anomaly_model(self) -> int:
        """Fit the anomaly model on every recorded event's withdrawals; returns how many it learnt from (0: too few)."""
        with self.engine.connect() as conn:
            evs = [
                _event_row(r)
                for r in conn.execute(select(models.events).order_by(models.events.c.time_ms, models.events.c.event_id))
            ]
        n = sum(1 for e in evs if e.kind == "withdrawal")
        if n < max(2, self.anomaly_min_training):
            return 0
        self.anomaly.fit_events(evs)
        return n

    # ---------------------------------------------------------------------------------------- internals

    def _restore(self) -> None:
        """The current list, the rules' history and the anomaly model, from the database."""
        with self.engine.connect() as conn:
            since = self.clock() - self.monitor.history.retention_ms
            recent = [
                _event_row(r)
                for r in conn.execute(
                    select(models.events)
                    .where(models.events.c.time_ms >= since)
                    .order_by(models.events.c.time_ms, models.events.c.event_id)
                )
            ]
            for r in conn.execute(select(models.cases.c.case_id, models.cases.c.evidence)):
                addr = (orjson.loads(r.evidence).get("event") or {}).get("address")
                if addr:
                    self._case_addresses[normalise_address(addr)] = r.case_id
        self.refresh()
        self.monitor.warm(recent)
        self.train_anomaly_model()

    def _record(
        self,
        conn: Connection,
        kind: str,
        subject: str,
        account_id: int | None,
        decision: str,
        matches: list[dict[str, Any]],
        case_id: int | None,
    ) -> None:
        cur = self.current
        conn.execute(
            insert(models.screenings).values(
                kind=kind,
                subject=subject,
                account_id=account_id,
                list_id=cur.list_id,
                list_version=cur.label,
                decision=decision,
                matches=orjson.dumps(matches).decode(),
                time_ms=self.clock(),
                case_id=case_id,
            )
        )


def _hit_json(h: AddressHit) -> dict[str, Any]:
    return {"uid": h.entry_uid, "name": h.entry_name, "ticker": h.ticker, "listed": h.listed}


def _event_json(e: MoneyEvent) -> dict[str, Any]:
    return {
        "kind": e.kind,
        "account": e.account_id,
        "asset": e.asset,
        "amount": format(e.amount, "f"),
        "value": format(e.value, "f"),
        "time": iso(e.time_ms),
        "ref": e.ref,
        "chain": e.chain,
        "address": e.address,
        "country": e.country,
    }


def _event_row(r: Any) -> MoneyEvent:
    return MoneyEvent(r.kind, r.account_id, r.asset, r.amount, r.value, r.time_ms, r.ref, r.chain, r.address, r.country)


def rules_digest(rules: RuleSet) -> str:
    """SHA-256 over the rules' meaning (ids, kinds, modes, actions, what they apply to, their knobs)."""
    body = [
        {"id": r.id, "kind": r.kind, "mode": r.mode, "action": r.action, "on": list(r.applies_to), "params": r.params}
        for r in rules.rules
    ]
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


def audit_rules(audit: AuditLog, rules: RuleSet, actor: str = SYSTEM, ip: str = "local") -> bool:
    """Record the AML rule set in the audit log when it differs from the last one recorded (a rule change);
    True if it was recorded."""
    digest = rules_digest(rules)
    last = audit.entries(action="aml.rules")
    if last and orjson.loads(last[-1].details).get("sha256") == digest:
        return False
    audit.record(
        actor,
        ip,
        "aml.rules",
        rules.source or "default",
        {
            "sha256": digest,
            "previous": orjson.loads(last[-1].details).get("sha256") if last else None,
            "rules": [{"id": r.id, "kind": r.kind, "mode": r.mode, "action": r.action} for r in rules.rules],
        },
    )
    return True


def screening_from_settings(
    settings: Any,
    *,
    authorizer: Authorizer | None = None,
    audit: AuditLog | None = None,
    ip: str = "local",
) -> Screening:
    """The screening service on the configured database (tables created if missing) with the configured rules.
    With ``audit``: list loads and case decisions are recorded there, and so is the rule set when it changed."""
    engine = models.open_engine(settings.database_url, settings.database_schema)
    models.create_screening_tables(engine, settings.database_schema)
    s = settings.screening
    rules = load_rules(s.rules_file or None)
    hook = audit.record if audit is not None else None
    if audit is not None:
        audit_rules(audit, rules)
    return Screening(
        engine,
        cases=CaseService(engine, authorizer, audit=hook, ip=ip),
        threshold=s.name_threshold,
        rules=rules,
        high_risk_countries=s.high_risk_countries,
        anomaly_min_training=s.anomaly_min_training,
        audit=hook,
    )
