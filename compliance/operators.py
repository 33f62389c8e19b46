"""Operators of the back office: accounts separate from API keys, roles and permissions, login, and the
separation-of-duties rules.

Every operator action is checked by :func:`authorize` (the one place): the operator must be enabled, come
from an address on its IP allow-list and hold the permission through its role. The separation-of-duties
rules are plain functions beside it (:func:`check_not_requester`, :func:`check_case_closer`) so custody
approvals and case decisions call the same code.

Login (:meth:`Operators.login`): password (argon2id, ``argon2-cffi``), then IP allow-list, then a TOTP code
(required for every operator, accepted once; see :mod:`compliance.totp`). ``login_max_failures`` failures in
a row lock the operator for ``login_lockout_s``. Every attempt, success or failure, is written to the audit
log with the source IP and the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, RowMapping, select, update
from sqlalchemy.exc import IntegrityError

from compliance.audit import AuditLog
from compliance.cases import PermissionDenied
from compliance.operator_models import operators
from compliance.totp import (
    Enrolment,
    SecondFactorError,
    SecondFactors,
    operator_subject,
)
from config.backoffice import BackOfficeSettings
from wallets.keys import ApiKeyError, ip_allowed, parse_allowlist

log = structlog.get_logger(__name__)

# Permissions: one name per kind of operator action.
READ_ACCOUNTS = "accounts.read"  # balances, orders, trades, tax reports of client accounts
READ_AUDIT = "audit.read"
READ_CASES = "cases.read"
DECIDE_CASES = "cases.decide"  # open, assign, escalate, close (release or return held funds)
SET_TIER = "kyc.set_tier"
CHANGE_RULES = "rules.change"  # AML rules, sanctions list refresh
REQUEST_WITHDRAWAL = "withdrawals.request"
APPROVE_WITHDRAWAL = "withdrawals.approve"
MANAGE_KEYS = "keys.manage"  # client API keys
SET_MARKUP = "markup.set"
KILL_SWITCH = "killswitch.operate"
MANAGE_OPERATORS = "operators.manage"
ALL_PERMISSIONS = frozenset(
    {
        READ_ACCOUNTS,
        READ_AUDIT,
        READ_CASES,
        DECIDE_CASES,
        SET_TIER,
        CHANGE_RULES,
        REQUEST_WITHDRAWAL,
        APPROVE_WITHDRAWAL,
        MANAGE_KEYS,
        SET_MARKUP,
        KILL_SWITCH,
        MANAGE_OPERATORS,
    }
)

# The permission table: role -> what it may do.
ROLES: dict[str, frozenset[str]] = {
    "admin": ALL_PERMISSIONS,
    "compliance_officer": frozenset({READ_ACCOUNTS, READ_AUDIT, READ_CASES, DECIDE_CASES, SET_TIER, CHANGE_RULES}),
    "treasury_approver": frozenset({READ_ACCOUNTS, READ_AUDIT, REQUEST_WITHDRAWAL, APPROVE_WITHDRAWAL}),
    "support": frozenset({READ_ACCOUNTS, READ_CASES}),  # read-only
}


class OperatorError(Exception):
    """An operator command was refused (unknown operator, bad input)."""


class NotAuthorized(OperatorError):
    """The operator may not do this (disabled, wrong address, missing permission, separation of duties)."""


class SeparationOfDuties(NotAuthorized):
    """The same person may not do both halves of a two-person action."""


class LoginFailed(OperatorError):
    """Login refused. The message is the same for a wrong name, password or code (the audit log has why)."""


@dataclass(frozen=True, slots=True)
class Operator:
    username: str
    role: str
    ip_allowlist: tuple[str, ...]
    disabled: bool
    failed_logins: int = 0
    locked_until: int = 0
    last_login: int | None = None
    created: int = 0

    @property
    def permissions(self) -> frozenset[str]:
        return ROLES.get(self.role, frozenset())

    def as_dict(self) -> dict[str, object]:
        return {
            "username": self.username,
            "role": self.role,
            "ipAllowlist": list(self.ip_allowlist),
            "disabled": self.disabled,
            "lockedUntil": self.locked_until,
            "lastLogin": self.last_login,
            "created": self.created,
        }


def authorize(operator: Operator, permission: str, ip: str) -> Operator:
    """The check in front of every operator action: returns ``operator`` or raises ``NotAuthorized``."""
    if permission not in ALL_PERMISSIONS:
        raise NotAuthorized(f"unknown permission {permission!r}")
    if operator.disabled:
        raise NotAuthorized(f"operator {operator.username} is disabled")
    if not ip_allowed(operator.ip_allowlist, ip):
        raise NotAuthorized(f"operator {operator.username} may not act from {ip}")
    if permission not in operator.permissions:
        raise NotAuthorized(f"operator {operator.username} (role {operator.role}) lacks permission {permission}")
    return operator


def check_not_requester(requester: str, approver: str) -> None:
    """Two-person rule for approvals (withdrawals, releases): whoever asked may not approve."""
    if requester.strip().lower() == approver.strip().lower():
        raise SeparationOfDuties(f"{approver} requested this and may not approve it")


def check_case_closer(opener: str, closer: str) -> None:
    """A case (and the funds it holds) is closed by someone other than the operator who opened it."""
    if opener.strip().lower() == closer.strip().lower():
        raise SeparationOfDuties(f"{closer} opened this case and may not close it")


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise OperatorError(f"role must be one of {', '.join(sorted(ROLES))}, was {role!r}")
    return role


def _check_username(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 64 or not all(c.isalnum() or c in "._-@" for c in name):
        raise OperatorError(f"username must be 1-64 letters, digits or ._-@, was {name!r}")
    return name


def _allowlist(text: str) -> tuple[str, ...]:
    try:
        return parse_allowlist(text)
    except ApiKeyError as exc:
        raise OperatorError(str(exc)) from None


class Operators:
    """The operator directory, login and the audited management actions."""

    def __init__(
        self,
        engine: Engine,
        factors: SecondFactors,
        audit: AuditLog,
        settings: BackOfficeSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.factors = factors
        self.audit = audit
        self.s = settings or BackOfficeSettings()
        self.clock = clock
        self.hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
        self._dummy_hash: str | None = None

    @property
    def _dummy(self) -> str:
        """A hash checked for unknown names, so timing tells nothing (made on first use: hashing takes ~0.1 s)."""
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash("not a password")
        return self._dummy_hash

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def get(self, username: str) -> Operator:
        with self.engine.connect() as conn:
            row = conn.execute(select(operators).where(operators.c.username == username)).first()
        if row is None:
            raise OperatorError(f"no operator {username!r}")
        return _operator(row._mapping)

    def all(self) -> list[Operator]:
        with self.engine.connect() as conn:
            return [_operator(r._mapping) for r in conn.execute(select(operators).order_by(operators.c.username))]

    # ----- management (the caller is an authorised operator, or the local command line) -----
    def create(
        self, username: str, password: str, role: str, *, ip_allowlist: str = "", actor: str, ip: str
    ) -> tuple[Operator, Enrolment]:
        """A new operator with its TOTP enrolment (shown once)."""
        username, role = _check_username(username), _check_role(role)
        if len(password) < 12:
            raise OperatorError("password must be at least 12 characters")
        ips = _allowlist(ip_allowlist)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    operators.insert().values(
                        username=username,
                        password_hash=self.hasher.hash(password),
                        role=role,
                        ip_allowlist=",".join(ips),
                        disabled=False,
                        failed_logins=0,
                        locked_until=0,
                        last_login=None,
                        created=self._now_ms(),
                    )
                )
        except IntegrityError:
            raise OperatorError(f"operator {username!r} exists") from None
        enrolment = self.factors.enrol(operator_subject(username), username)
        self.audit.record(actor, ip, "operator.create", username, {"role": role, "ipAllowlist": list(ips)})
        return self.get(username), enrolment

    def set_role(self, username: str, role: str, *, actor: str, ip: str) -> Operator:
        before = self.get(username)
        self._set(username, role=_check_role(role))
        self.audit.record(actor, ip, "operator.set_role", username, {"from": before.role, "to": role})
        return self.get(username)

    def set_ip_allowlist(self, username: str, ip_allowlist: str, *, actor: str, ip: str) -> Operator:
        ips = _allowlist(ip_allowlist)
        self.get(username)
        self._set(username, ip_allowlist=",".join(ips))
        self.audit.record(actor, ip, "operator.set_ips", username, {"ipAllowlist": list(ips)})
        return self.get(username)

    def disable(self, username: str, *, actor: str, ip: str, disabled: bool = True) -> Operator:
        self.get(username)
        self._set(username, disabled=disabled)
        self.audit.record(actor, ip, "operator.disable" if disabled else "operator.enable", username, {})
        return self.get(username)

    def reset_totp(self, username: str, *, actor: str, ip: str) -> Enrolment:
        self.get(username)
        enrolment = self.factors.enrol(operator_subject(username), username)
        self.audit.record(actor, ip, "operator.reset_totp", username, {})
        return enrolment

    def _set(self, username: str, **values: object) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(operators).where(operators.c.username == username).values(**values))

    # ----- login -----
    def login(self, username: str, password: str, code: str, ip: str) -> Operator:
        """Password, then IP allow-list, then TOTP; every attempt audited. Returns the operator or raises
        ``LoginFailed`` (the same message for every reason, so it tells an attacker nothing)."""
        now = self._now_ms()
        try:
            op = self.get(username)
        except OperatorError:
            _verify(self.hasher, self._dummy, password)
            return self._refuse(username, ip, "unknown operator")
        if op.disabled:
            return self._refuse(username, ip, "disabled")
        if op.locked_until > now:
            return self._refuse(username, ip, f"locked for {(op.locked_until - now + 999) // 1000} s", count=False)
        with self.engine.connect() as conn:
            stored = conn.execute(
                select(operators.c.password_hash).where(operators.c.username == username)
            ).scalar_one()
        if not _verify(self.hasher, stored, password):
            return self._refuse(username, ip, "wrong password")
        if not ip_allowed(op.ip_allowlist, ip):
            return self._refuse(username, ip, "address not on the allow-list")
        try:
            self.factors.verify(operator_subject(username), code)
        except SecondFactorError as exc:
            return self._refuse(username, ip, f"second factor: {exc}")
        if self.hasher.check_needs_rehash(stored):
            self._set(username, password_hash=self.hasher.hash(password))
        self._set(username, failed_logins=0, locked_until=0, last_login=now)
        self.audit.record(username, ip, "operator.login", username, {"result": "success"})
        return self.get(username)

    def _refuse(self, username: str, ip: str, reason: str, *, count: bool = True) -> Operator:
        details: dict[str, object] = {"result": "failure", "reason": reason}
        if count:
            with self.engine.begin() as conn:
                row = conn.execute(select(operators.c.failed_logins).where(operators.c.username == username)).first()
                if row is not None:
                    failures = row[0] + 1
                    values: dict[str, int] = {"failed_logins": failures}
                    if failures >= self.s.login_max_failures:
                        values = {"failed_logins": 0, "locked_until": self._now_ms() + self.s.login_lockout_s * 1000}
                        details["locked_s"] = self.s.login_lockout_s
                    conn.execute(update(operators).where(operators.c.username == username).values(**values))
        self.audit.record(username, ip, "operator.login", username, details)
        log.warning("operator_login_refused", username=username, ip=ip, reason=reason)
        raise LoginFailed("login refused: wrong name, password or code, or not allowed from this address")

    def authorize(self, operator: Operator, permission: str, ip: str) -> Operator:
        """:func:`authorize` on the operator's current record; a refusal is audited."""
        try:
            return authorize(self.get(operator.username), permission, ip)
        except NotAuthorized as exc:
            self.audit.record(operator.username, ip, "operator.denied", permission, {"reason": str(exc)})
            raise


# What each case action needs (compliance.cases.PERMISSIONS -> an operator permission).
CASE_PERMISSIONS = {
    "case.read": READ_CASES,
    "case.assign": DECIDE_CASES,
    "case.note": DECIDE_CASES,
    "case.investigate": DECIDE_CASES,
    "case.escalate": DECIDE_CASES,
    "case.close": DECIDE_CASES,
}


class OperatorAuthorizer:
    """The cases' ``Authorizer`` over the operator directory: every case action goes through
    :meth:`Operators.authorize` (enabled, allowed address, role holds the permission; refusals audited)."""

    def __init__(self, operators: Operators, ip: str = "local") -> None:
        self.operators = operators
        self.ip = ip

    def authorize(self, actor: str, permission: str, case_id: int | None) -> None:
        needed = CASE_PERMISSIONS.get(permission)
        if needed is None:
            raise PermissionDenied(f"unknown case permission {permission!r}")
        try:
            op = self.operators.get(actor)
        except OperatorError:
            self.operators.audit.record(actor, self.ip, "operator.denied", permission, {"reason": "unknown operator"})
            raise PermissionDenied(f"{permission}: {actor!r} is not an operator") from None
        try:
            self.operators.authorize(op, needed, self.ip)
        except NotAuthorized as exc:
            raise PermissionDenied(f"{permission}: {exc}") from None


def _verify(hasher: PasswordHasher, stored: str, password: str) -> bool:
    try:
        return hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _operator(m: RowMapping) -> Operator:
    r = m  # a RowMapping
    return Operator(
        r["username"],
        r["role"],
        tuple(x for x in r["ip_allowlist"].split(",") if x),
        bool(r["disabled"]),
        r["failed_logins"],
        r["locked_until"],
        r["last_login"],
        r["created"],
    )
