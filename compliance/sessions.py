"""Operators' HTTP sessions: a login (password, TOTP code, allowed address) gives a bearer token.

The token is 256 random bits shown once; the database keeps its SHA-256 only, with the operator, the address
that logged in and the expiry. A token is taken only from that address, until it expires or is revoked
(logout). The operator's record is read again on every action (:meth:`Operators.authorize`), so disabling an
operator or changing their role takes effect at once, whatever sessions they hold.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import Engine, insert, select, update

from compliance.audit import AuditLog
from compliance.operator_models import operator_sessions
from compliance.operators import NotAuthorized, Operator, Operators
from domain import now_ms


class SessionInvalid(NotAuthorized):
    """No such session, or it expired, was revoked, or is used from another address."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class OperatorSessions:
    def __init__(self, engine: Engine, operators: Operators, audit: AuditLog, ttl_s: int) -> None:
        self.engine = engine
        self.operators = operators
        self.audit = audit
        self.ttl_ms = ttl_s * 1000

    def open(self, username: str, password: str, code: str, ip: str) -> tuple[str, Operator, int]:
        """Log in (every check of :meth:`Operators.login`, audited); (token, operator, expiry in ms)."""
        op = self.operators.login(username, password, code, ip)
        token = secrets.token_urlsafe(32)
        now = now_ms()
        expires = now + self.ttl_ms
        with self.engine.begin() as conn:
            conn.execute(
                insert(operator_sessions).values(
                    token_hash=_digest(token), username=op.username, ip=ip, created=now, expires=expires, revoked=None
                )
            )
        return token, op, expires

    def operator(self, token: str, ip: str) -> Operator:
        """The operator a live session belongs to, used from the address it was opened at."""
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(operator_sessions).where(operator_sessions.c.token_hash == _digest(token)))
                .mappings()
                .first()
            )
        if row is None or row["revoked"] is not None or row["expires"] <= now_ms():
            raise SessionInvalid("no live session: log in again")
        if row["ip"] != ip:
            self.audit.record(
                row["username"], ip, "operator.session_refused", row["username"], {"openedFrom": row["ip"]}
            )
            raise SessionInvalid("this session was opened from another address")
        return self.operators.get(row["username"])

    def close(self, token: str, ip: str) -> None:
        """Log out: the token is refused from now on."""
        op = self.operator(token, ip)
        with self.engine.begin() as conn:
            conn.execute(
                update(operator_sessions)
                .where(operator_sessions.c.token_hash == _digest(token))
                .values(revoked=now_ms())
            )
        self.audit.record(op.username, ip, "operator.logout", op.username, {})
