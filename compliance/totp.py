"""Second factor: TOTP (RFC 6238) with ``pyotp``, plus one-time recovery codes.

What pyotp leaves to the caller (its README says so) is done here:

- **no replay**: the last accepted time step of each subject is stored, and a code is accepted only for a
  later step. The update is a compare-and-set in the database (``WHERE last_step < step``), so two requests
  racing with the same code cannot both pass, even in two processes;
- **throttling**: ``totp_max_failures`` wrong codes in a row lock the subject for ``totp_lockout_s``;
- **time**: integer UNIX seconds only (never naive datetimes, which pyotp would read as local time).

Codes one step either side of now are accepted (``totp_window_steps``, RFC 6238's recommended network delay).
A subject is ``"operator:<name>"`` or ``"account:<id>"``. Secrets are sealed at rest with the master key that
seals API secrets (AES-256-GCM, the subject as associated data). An enrolment is pending until a first code
confirms it; for client accounts only a confirmed enrolment makes the second factor required.

Recovery codes: ``recovery_codes`` random 80-bit codes, shown once at enrolment, stored as SHA-256 (random
80-bit strings need no slow hash), each usable once in place of a TOTP code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import pyotp
import structlog
from sqlalchemy import Engine, delete, select, update

from compliance.operator_models import recovery_codes, second_factors
from config.backoffice import BackOfficeSettings
from wallets.keys import seal, unseal

log = structlog.get_logger(__name__)
Algorithm = Literal["sha1", "sha256", "sha512"]
_DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


class SecondFactorError(Exception):
    """A second-factor check failed; the message says why (never which code would have been right)."""


class SecondFactorRequired(SecondFactorError):
    """The subject has a second factor and no code was given."""


class SecondFactorLocked(SecondFactorError):
    """Too many wrong codes: the subject is locked out for a while."""


def code_at(
    secret_b32: str, unix_time: int, *, digits: int = 6, step_s: int = 30, algorithm: Algorithm = "sha1"
) -> str:
    """The TOTP code of ``secret_b32`` at ``unix_time`` (RFC 6238, T0 = 0)."""
    return pyotp.TOTP(secret_b32, digits=digits, interval=step_s, digest=_DIGESTS[algorithm]).at(unix_time)


def account_subject(account_id: int) -> str:
    return f"account:{account_id}"


def operator_subject(username: str) -> str:
    return f"operator:{username}"


def _hash_recovery(code: str) -> str:
    return hashlib.sha256(_normal_recovery(code).encode()).hexdigest()


def _normal_recovery(code: str) -> str:
    return code.replace("-", "").replace(" ", "").upper()


def new_recovery_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(10)).decode()  # 80 bits, 16 characters
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4)).lower()


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What the user sees once: the secret, the otpauth:// URI (for a QR code) and the recovery codes."""

    subject: str
    secret: str
    uri: str
    recovery_codes: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "subject": self.subject,
            "secret": self.secret,
            "provisioningUri": self.uri,
            "recoveryCodes": list(self.recovery_codes),
        }


class SecondFactors:
    """Enrol, verify and require second factors, stored in the ledger's database."""

    def __init__(
        self,
        engine: Engine,
        master_key: bytes,
        settings: BackOfficeSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.master = master_key
        self.s = settings or BackOfficeSettings()
        self.clock = clock

    def _now(self) -> int:
        return int(self.clock())

    def _totp(self, secret: str) -> pyotp.TOTP:
        return pyotp.TOTP(secret, digits=self.s.totp_digits, interval=self.s.totp_step_s)

    # ----- enrolment -----
    def enrol(self, subject: str, label: str) -> Enrolment:
        """A new secret and recovery codes for ``subject`` (replacing any earlier ones); pending until confirmed."""
        secret = pyotp.random_base32()  # 160 bits, RFC 4226's recommended length
        ct, nonce = seal(self.master, subject, secret)
        codes = tuple(new_recovery_code() for _ in range(self.s.recovery_codes))
        now_ms = self._now() * 1000
        with self.engine.begin() as conn:
            conn.execute(delete(second_factors).where(second_factors.c.subject == subject))
            conn.execute(delete(recovery_codes).where(recovery_codes.c.subject == subject))
            conn.execute(
                second_factors.insert().values(
                    subject=subject,
                    secret_ct=ct,
                    nonce=nonce,
                    active=False,
                    last_step=-1,
                    failures=0,
                    locked_until=0,
                    created=now_ms,
                )
            )
            conn.execute(
                recovery_codes.insert(),
                [{"code_hash": _hash_recovery(c), "subject": subject, "used": None} for c in codes],
            )
        uri = self._totp(secret).provisioning_uri(name=label, issuer_name=self.s.totp_issuer)
        return Enrolment(subject, secret, uri, codes)

    def remove(self, subject: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(second_factors).where(second_factors.c.subject == subject))
            conn.execute(delete(recovery_codes).where(recovery_codes.c.subject == subject))

    def status(self, subject: str) -> str:
        """``"none"``, ``"pending"`` (enrolled, not yet confirmed by a code) or ``"active"``."""
        with self.engine.connect() as conn:
            row = conn.execute(select(second_factors.c.active).where(second_factors.c.subject == subject)).first()
        return "none" if row is None else ("active" if row[0] else "pending")

    def is_active(self, subject: str) -> bool:
        return self.status(subject) == "active"

    # ----- verification -----
    def verify(self, subject: str, code: str) -> None:
        """Accept ``code`` (a TOTP code, or an unused recovery code) once, or raise ``SecondFactorError``.

        A first accepted TOTP code confirms a pending enrolment.
        """
        now = self._now()
        with self.engine.connect() as conn:
            row = conn.execute(select(second_factors).where(second_factors.c.subject == subject)).first()
            conn.rollback()
        if row is None:
            raise SecondFactorError(f"{subject} has no second factor enrolled")
        m = row._mapping
        if m["locked_until"] > now * 1000:
            raise SecondFactorLocked(
                f"too many wrong codes for {subject}; try again in {(m['locked_until'] - now * 1000 + 999) // 1000} s"
            )
        code = (code or "").strip()
        if code.isdigit() and len(code) == self.s.totp_digits:
            why = self._accept_totp(subject, m, code, now)
        else:
            why = self._accept_recovery(subject, code, now) if m["active"] else "confirm the enrolment with a TOTP code"
        if why is None:
            return
        self._failed(subject, now)
        raise SecondFactorError(why)

    def _accept_totp(self, subject: str, m: object, code: str, now: int) -> str | None:
        row = m  # a RowMapping
        secret = unseal(self.master, subject, row["secret_ct"], row["nonce"])  # type: ignore[index]
        totp = self._totp(secret)
        step_now = now // self.s.totp_step_s
        matched = None
        w = self.s.totp_window_steps
        for step in range(step_now - w, step_now + w + 1):
            # compare every candidate (constant-time each) so timing does not say which step matched
            if hmac.compare_digest(totp.at(step * self.s.totp_step_s), code) and matched is None:
                matched = step
        if matched is None:
            return "wrong or expired code"
        with self.engine.begin() as conn:
            done = conn.execute(
                update(second_factors)
                .where(second_factors.c.subject == subject, second_factors.c.last_step < matched)
                .values(last_step=matched, failures=0, active=True)
            ).rowcount
        if done != 1:
            log.warning("totp_replay_refused", subject=subject, step=matched)
            return "code already used"
        return None

    def _accept_recovery(self, subject: str, code: str, now: int) -> str | None:
        with self.engine.begin() as conn:
            done = conn.execute(
                update(recovery_codes)
                .where(
                    recovery_codes.c.code_hash == _hash_recovery(code),
                    recovery_codes.c.subject == subject,
                    recovery_codes.c.used.is_(None),
                )
                .values(used=now * 1000)
            ).rowcount
            if done == 1:
                conn.execute(update(second_factors).where(second_factors.c.subject == subject).values(failures=0))
        if done != 1:
            return "wrong or already used recovery code"
        log.warning("recovery_code_used", subject=subject)
        return None

    def _failed(self, subject: str, now: int) -> None:
        with self.engine.begin() as conn:
            failures = (
                conn.execute(select(second_factors.c.failures).where(second_factors.c.subject == subject)).scalar_one()
                + 1
            )
            values: dict[str, int] = {"failures": failures}
            if failures >= self.s.totp_max_failures:
                values = {"failures": 0, "locked_until": (now + self.s.totp_lockout_s) * 1000}
                log.warning("second_factor_locked", subject=subject, seconds=self.s.totp_lockout_s)
            conn.execute(update(second_factors).where(second_factors.c.subject == subject).values(**values))

    def recovery_codes_left(self, subject: str) -> int:
        with self.engine.connect() as conn:
            return len(
                conn.execute(
                    select(recovery_codes.c.code_hash).where(
                        recovery_codes.c.subject == subject, recovery_codes.c.used.is_(None)
                    )
                ).all()
            )

    # ----- client accounts -----
    def require_second_factor(self, account_id: int, code: str | None) -> None:
        """For withdrawals, whitelist changes and API-key creation: nothing to do if the account has no active
        second factor; otherwise ``code`` must be a fresh TOTP code (or an unused recovery code)."""
        subject = account_subject(account_id)
        if not self.is_active(subject):
            return
        if not code:
            raise SecondFactorRequired(f"account {account_id} has two-factor authentication on: a code is required")
        self.verify(subject, code)
