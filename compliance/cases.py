"""Cases: every alert is one, and held money leaves a hold only when its case is closed.

States: ``open`` -> ``investigating`` -> (``escalated``) -> ``closed``. Closing records a resolution, whether a
SAR was filed, and, when the case holds money, whether it is released (credited / sent) or returned.

Four eyes: a case is closed by someone other than the one who opened it. Automatic alerts are opened by
``system``; for them the operator who took the case into investigation stands in as the opener, so a
hold is always seen by two people (one investigates, another decides). A case must be investigated before
it is closed. Each operator action asks the ``Authorizer`` first (one call, ``authorize(actor, permission,
case_id)``); the default allows everything; ``compliance.operators.OperatorAuthorizer`` checks the operators'
roles through ``compliance.operators.authorize``. With an ``audit`` hook (the hash-chained audit log's
``record``) every decision (assign, investigate, escalate, close, and each hold it releases or returns) is
recorded there after it commits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, Protocol

import orjson
import structlog
from sqlalchemy import Connection, Engine, insert, select, update

from compliance import models
from domain import now_ms

log = structlog.get_logger(__name__)

SYSTEM = "system"
CaseState = Literal["open", "investigating", "escalated", "closed"]
Funds = Literal["release", "return"]
PERMISSIONS = ("case.read", "case.assign", "case.note", "case.investigate", "case.escalate", "case.close")


class CaseError(ValueError):
    """A case action refused; the message says why. Nothing was changed."""


class CaseNotFound(CaseError):
    pass


class CaseStateError(CaseError):
    pass


class FourEyesViolation(CaseError):
    pass


class PermissionDenied(CaseError):
    pass


class Authorizer(Protocol):
    def authorize(self, actor: str, permission: str, case_id: int | None) -> None:
        """Return if ``actor`` may do ``permission`` (one of PERMISSIONS); raise PermissionDenied if not."""


class AllowAll:
    """The default authorizer: every operator may do everything (tests, single-operator setups)."""

    def authorize(self, actor: str, permission: str, case_id: int | None) -> None:
        if not actor or actor == SYSTEM:
            raise PermissionDenied(f"{permission}: an operator name is required (was {actor!r})")


@dataclass(frozen=True, slots=True)
class Hold:
    """Money a case holds. Custody keeps the deposit uncredited (or the withdrawal unsent) while ``held``."""

    hold_id: int
    case_id: int
    account_id: int
    direction: str  # deposit | withdrawal
    ref: str
    chain: str | None
    address: str | None
    asset: str
    amount: Decimal
    status: str  # held | released | returned
    created_ms: int
    resolved_ms: int | None = None
    resolved_by: str | None = None


@dataclass(frozen=True, slots=True)
class CaseLogEntry:
    actor: str
    action: str
    text: str
    time_ms: int


@dataclass(frozen=True, slots=True)
class Case:
    case_id: int
    kind: str
    state: str
    account_id: int | None
    summary: str
    evidence: dict[str, Any]
    opened_by: str
    opened_ms: int
    assignee: str | None
    investigator: str | None
    closed_by: str | None
    closed_ms: int | None
    resolution: str | None
    funds: str | None
    sar_filed: bool


def _case(r: Any) -> Case:
    m = r._mapping
    return Case(
        m["case_id"],
        m["kind"],
        m["state"],
        m["account_id"],
        m["summary"],
        orjson.loads(m["evidence"]),
        m["opened_by"],
        m["opened_ms"],
        m["assignee"],
        m["investigator"],
        m["closed_by"],
        m["closed_ms"],
        m["resolution"],
        m["funds"],
        bool(m["sar_filed"]),
    )


def _hold(r: Any) -> Hold:
    m = r._mapping
    return Hold(
        m["hold_id"],
        m["case_id"],
        m["account_id"],
        m["direction"],
        m["ref"],
        m["chain"],
        m["address"],
        m["asset"],
        m["amount"],
        m["status"],
        m["created_ms"],
        m["resolved_ms"],
        m["resolved_by"],
    )


HoldListener = Callable[[Hold], None]
# (actor, source ip, action, target, details): the audit log's ``record``
AuditHook = Callable[[str, str, str, str, dict[str, Any]], object]


class CaseService:
    """Opens cases and holds, and carries out operators' case decisions."""

    def __init__(
        self,
        engine: Engine,
        authorizer: Authorizer | None = None,
        clock: Callable[[], int] = now_ms,
        *,
        audit: AuditHook | None = None,
        ip: str = "local",
    ) -> None:
        self.engine = engine
        self.authorizer: Authorizer = authorizer or AllowAll()
        self.clock = clock
        self.audit = audit
        self.ip = ip  # where operators act from (the command line: local), recorded with each decision
        self._hold_listeners: list[HoldListener] = []

    def _audit(self, actor: str, action: str, case_id: int, details: dict[str, Any]) -> None:
        if self.audit is not None:
            self.audit(actor, self.ip, action, f"case:{case_id}", details)

    def on_hold_resolved(self, listener: HoldListener) -> None:
        """Call ``listener`` with each hold a case close releases or returns (after the commit)."""
        self._hold_listeners.append(listener)

    # -------------------------------------------------------------------- opening (the system's side)

    def open_case(
        self,
        conn: Connection,
        *,
        kind: str,
        summary: str,
        evidence: dict[str, Any],
        account_id: int | None,
        opened_by: str = SYSTEM,
        dedupe_key: str | None = None,
    ) -> Case:
        """Open a case in the caller's transaction; an open case with the same ``dedupe_key`` is returned instead."""
        if dedupe_key is not None:
            row = conn.execute(select(models.cases).where(models.cases.c.dedupe_key == dedupe_key)).first()
            if row is not None:
                return _case(row)
        t = self.clock()
        case_id = conn.execute(
            insert(models.cases)
            .values(
                kind=kind,
                state="open",
                account_id=account_id,
                summary=summary,
                evidence=orjson.dumps(evidence, default=str).decode(),
                opened_by=opened_by,
                opened_ms=t,
                sar_filed=False,
                dedupe_key=dedupe_key,
            )
            .returning(models.cases.c.case_id)
        ).scalar_one()
        self._log(conn, case_id, opened_by, "open", summary, t)
        log.info("case opened", case_id=case_id, kind=kind, account_id=account_id)
        return self._get(conn, case_id)

    def place_hold(
        self,
        conn: Connection,
        *,
        case_id: int,
        account_id: int,
        direction: str,
        ref: str,
        chain: str | None,
        address: str | None,
        asset: str,
        amount: Decimal,
    ) -> Hold:
        """Hold money for ``case_id``; the same (direction, ref) held twice returns the first hold."""
        if direction not in ("deposit", "withdrawal"):
            raise CaseError(f"direction must be deposit or withdrawal, was {direction!r}")
        existing = self._hold_by_ref(conn, direction, ref)
        if existing is not None:
            return existing
        hold_id = conn.execute(
            insert(models.holds)
            .values(
                case_id=case_id,
                account_id=account_id,
                direction=direction,
                ref=ref,
                chain=chain,
                address=address,
                asset=asset,
                amount=amount,
                status="held",
                created_ms=self.clock(),
            )
            .returning(models.holds.c.hold_id)
        ).scalar_one()
        self._log(conn, case_id, SYSTEM, "hold", f"{direction} {ref}: {amount} {asset} held", self.clock())
        row = conn.execute(select(models.holds).where(models.holds.c.hold_id == hold_id)).one()
        return _hold(row)

    # -------------------------------------------------------------------- reading

    def get(self, case_id: int, actor: str | None = None) -> Case:
        if actor is not None:
            self.authorizer.authorize(actor, "case.read", case_id)
        with self.engine.connect() as conn:
            return self._get(conn, case_id)

    def find(self, *, state: str | None = None, account_id: int | None = None) -> list[Case]:
        q = select(models.cases).order_by(models.cases.c.case_id)
        if state is not None:
            q = q.where(models.cases.c.state == state)
        if account_id is not None:
            q = q.where(models.cases.c.account_id == account_id)
        with self.engine.connect() as conn:
            return [_case(r) for r in conn.execute(q)]

    def history(self, case_id: int) -> list[CaseLogEntry]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(models.case_log).where(models.case_log.c.case_id == case_id).order_by(models.case_log.c.log_id)
            )
            return [CaseLogEntry(r.actor, r.action, r.text, r.time_ms) for r in rows]

    def holds_of(self, case_id: int) -> list[Hold]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(models.holds).where(models.holds.c.case_id == case_id).order_by(models.holds.c.hold_id)
            )
            return [_hold(r) for r in rows]

    def hold(self, direction: str, ref: str) -> Hold | None:
        """The hold on custody's deposit or withdrawal ``ref``, if any (custody polls this on restart)."""
        with self.engine.connect() as conn:
            return self._hold_by_ref(conn, direction, ref)

    # -------------------------------------------------------------------- operators' decisions

    def assign(self, case_id: int, assignee: str, actor: str) -> Case:
        self.authorizer.authorize(actor, "case.assign", case_id)
        with self.engine.begin() as conn:
            case = self._open_case_for_update(conn, case_id)
            conn.execute(update(models.cases).where(models.cases.c.case_id == case.case_id).values(assignee=assignee))
            self._log(conn, case_id, actor, "assign", assignee, self.clock())
            done = self._get(conn, case_id)
        self._audit(actor, "case.assign", case_id, {"assignee": assignee})
        return done

    def note(self, case_id: int, text: str, actor: str) -> Case:
        self.authorizer.authorize(actor, "case.note", case_id)
        if not text.strip():
            raise CaseError("a note needs text")
        with self.engine.begin() as conn:
            self._get(conn, case_id)
            self._log(conn, case_id, actor, "note", text, self.clock())
            return self._get(conn, case_id)

    def investigate(self, case_id: int, actor: str) -> Case:
        self.authorizer.authorize(actor, "case.investigate", case_id)
        with self.engine.begin() as conn:
            case = self._open_case_for_update(conn, case_id)
            if case.state != "open":
                raise CaseStateError(f"case {case_id} is {case.state}: only an open case goes to investigating")
            conn.execute(
                update(models.cases)
                .where(models.cases.c.case_id == case_id)
                .values(state="investigating", investigator=actor, assignee=case.assignee or actor)
            )
            self._log(conn, case_id, actor, "investigate", "open -> investigating", self.clock())
            done = self._get(conn, case_id)
        self._audit(actor, "case.investigate", case_id, {"from": "open", "to": "investigating"})
        return done

    def escalate(self, case_id: int, actor: str, reason: str = "") -> Case:
        self.authorizer.authorize(actor, "case.escalate", case_id)
        with self.engine.begin() as conn:
            case = self._open_case_for_update(conn, case_id)
            if case.state not in ("open", "investigating"):
                raise CaseStateError(f"case {case_id} is {case.state}: only an open or investigating case escalates")
            values: dict[str, Any] = {"state": "escalated"}
            if case.investigator is None:
                values["investigator"] = actor  # escalating is looking at it: it counts as investigating
            conn.execute(update(models.cases).where(models.cases.c.case_id == case_id).values(**values))
            self._log(
                conn,
                case_id,
                actor,
                "escalate",
                f"{case.state} -> escalated{': ' + reason if reason else ''}",
                self.clock(),
            )
            done = self._get(conn, case_id)
        self._audit(actor, "case.escalate", case_id, {"from": case.state, "to": "escalated", "reason": reason})
        return done

    def close(
        self, case_id: int, actor: str, *, resolution: str, funds: Funds | None = None, sar_filed: bool = False
    ) -> Case:
        """Close a case; its held money is released or returned here and nowhere else."""
        self.authorizer.authorize(actor, "case.close", case_id)
        if not resolution.strip():
            raise CaseError("closing a case needs a resolution")
        if funds not in (None, "release", "return"):
            raise CaseError(f"funds must be release or return, was {funds!r}")
        with self.engine.begin() as conn:
            case = self._open_case_for_update(conn, case_id)
            if case.state not in ("investigating", "escalated"):
                raise CaseStateError(f"case {case_id} is {case.state}: investigate it before closing")
            if actor == case.opened_by:
                raise FourEyesViolation(f"case {case_id} was opened by {actor}: another operator must close it")
            if actor == case.investigator:
                raise FourEyesViolation(
                    f"case {case_id} was investigated by {actor}: another operator must close it (four eyes)"
                )
            held = [h for h in self._holds(conn, case_id) if h.status == "held"]
            if held and funds is None:
                raise CaseError(f"case {case_id} holds {len(held)} transfer(s): say release or return")
            if not held and funds is not None:
                raise CaseError(f"case {case_id} holds no money: nothing to {funds}")
            t = self.clock()
            conn.execute(
                update(models.cases)
                .where(models.cases.c.case_id == case_id)
                .values(
                    state="closed",
                    closed_by=actor,
                    closed_ms=t,
                    resolution=resolution,
                    funds=funds,
                    sar_filed=sar_filed,
                    dedupe_key=None,
                )
            )
            status = "released" if funds == "release" else "returned"
            for h in held:
                conn.execute(
                    update(models.holds)
                    .where(models.holds.c.hold_id == h.hold_id)
                    .values(status=status, resolved_ms=t, resolved_by=actor)
                )
            self._log(
                conn,
                case_id,
                actor,
                "close",
                f"{case.state} -> closed: {resolution}"
                + (f"; funds {status}" if held else "")
                + ("; SAR filed" if sar_filed else ""),
                t,
            )
            closed = self._get(conn, case_id)
            resolved = [h for h in self._holds(conn, case_id) if h.hold_id in {x.hold_id for x in held}]
        log.info("case closed", case_id=case_id, by=actor, funds=funds, sar_filed=sar_filed)
        self._audit(
            actor,
            "case.close",
            case_id,
            {"from": case.state, "resolution": resolution, "funds": funds, "sarFiled": sar_filed, "kind": case.kind},
        )
        for h in resolved:
            self._audit(
                actor,
                f"hold.{funds}",
                case_id,
                {
                    "hold": h.hold_id,
                    "direction": h.direction,
                    "ref": h.ref,
                    "account": h.account_id,
                    "asset": h.asset,
                    "amount": format(h.amount, "f"),
                    "status": h.status,
                },
            )
        for h in resolved:
            for listener in self._hold_listeners:
                listener(h)
        return closed

    # -------------------------------------------------------------------- internals

    def _get(self, conn: Connection, case_id: int) -> Case:
        row = conn.execute(select(models.cases).where(models.cases.c.case_id == case_id)).first()
        if row is None:
            raise CaseNotFound(f"no case {case_id}")
        return _case(row)

    def _open_case_for_update(self, conn: Connection, case_id: int) -> Case:
        q = select(models.cases).where(models.cases.c.case_id == case_id)
        if conn.dialect.name == "postgresql":
            q = q.with_for_update()
        row = conn.execute(q).first()
        if row is None:
            raise CaseNotFound(f"no case {case_id}")
        case = _case(row)
        if case.state == "closed":
            raise CaseStateError(f"case {case_id} is closed")
        return case

    def _holds(self, conn: Connection, case_id: int) -> list[Hold]:
        rows = conn.execute(
            select(models.holds).where(models.holds.c.case_id == case_id).order_by(models.holds.c.hold_id)
        )
        return [_hold(r) for r in rows]

    def _hold_by_ref(self, conn: Connection, direction: str, ref: str) -> Hold | None:
        row = conn.execute(
            select(models.holds).where(models.holds.c.direction == direction, models.holds.c.ref == ref)
        ).first()
        return _hold(row) if row is not None else None

    def _log(self, conn: Connection, case_id: int, actor: str, action: str, text: str, t: int) -> None:
        conn.execute(insert(models.case_log).values(case_id=case_id, actor=actor, action=action, text=text, time_ms=t))
