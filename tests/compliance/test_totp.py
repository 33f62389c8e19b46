"""TOTP (RFC 6238) second factor: the RFC's own test vectors, the ±1 step window, one use per code (also across
processes, through the database), throttling and recovery codes; on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlparse

import pytest

from compliance.totp import (
    SecondFactorError,
    SecondFactorLocked,
    SecondFactorRequired,
    account_subject,
    code_at,
)
from tests.compliance.conftest import Clock, open_backoffice
from tests.wallets.conftest import Db

# RFC 6238 Appendix B (T0 = 0, X = 30 s, 8 digits). The SHA-256 and SHA-512 rows were computed by the RFC's
# Appendix A code with 32- and 64-byte seeds (RFC 6238 erratum 2866), not the 20-byte ASCII string the text names.
SEEDS = {
    "sha1": b"12345678901234567890",
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC6238_B = [  # (time, T in hex, TOTP, mode)
    (59, "0000000000000001", "94287082", "sha1"),
    (59, "0000000000000001", "46119246", "sha256"),
    (59, "0000000000000001", "90693936", "sha512"),
    (1111111109, "00000000023523EC", "07081804", "sha1"),
    (1111111109, "00000000023523EC", "68084774", "sha256"),
    (1111111109, "00000000023523EC", "25091201", "sha512"),
    (1111111111, "00000000023523ED", "14050471", "sha1"),
    (1111111111, "00000000023523ED", "67062674", "sha256"),
    (1111111111, "00000000023523ED", "99943326", "sha512"),
    (1234567890, "000000000273EF07", "89005924", "sha1"),
    (1234567890, "000000000273EF07", "91819424", "sha256"),
    (1234567890, "000000000273EF07", "93441116", "sha512"),
    (2000000000, "0000000003F940AA", "69279037", "sha1"),
    (2000000000, "0000000003F940AA", "90698825", "sha256"),
    (2000000000, "0000000003F940AA", "38618901", "sha512"),
    (20000000000, "0000000027BC86AA", "65353130", "sha1"),
    (20000000000, "0000000027BC86AA", "77737706", "sha256"),
    (20000000000, "0000000027BC86AA", "47863826", "sha512"),
]


@pytest.mark.parametrize(("t", "step_hex", "code", "mode"), RFC6238_B)
def test_rfc6238_appendix_b(t: int, step_hex: str, code: str, mode: str) -> None:
    assert t // 30 == int(step_hex, 16)
    secret = base64.b32encode(SEEDS[mode]).decode()
    assert code_at(secret, t, digits=8, algorithm=mode) == code  # type: ignore[arg-type]


def test_rfc4226_secret_six_digits() -> None:
    # RFC 4226 Appendix D, count 1 = RFC 6238 at t=59 with 6 digits; its base32 form is what an otpauth URI carries
    assert code_at("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", 59) == "287082"


def test_enrol_window_replay_lockout_and_recovery(db: Db, clock: Clock) -> None:
    bo = open_backoffice(db, clock, totp_max_failures=3, totp_lockout_s=60)
    f = bo.factors
    subject = account_subject(7)
    e = f.enrol(subject, "eve@example.com")
    uri = urlparse(e.uri)
    assert uri.scheme == "otpauth" and uri.netloc == "totp" and "eve%40example.com" in uri.path
    assert parse_qs(uri.query)["secret"] == [e.secret] and parse_qs(uri.query)["issuer"] == ["Braid"]
    assert len(e.recovery_codes) == 10 and f.status(subject) == "pending"
    f.require_second_factor(7, None)  # pending: not yet required
    now = int(clock())
    f.verify(subject, code_at(e.secret, now))  # the first code confirms
    assert f.status(subject) == "active"
    with pytest.raises(SecondFactorError, match="already used"):
        f.verify(subject, code_at(e.secret, now))
    # a code of the previous step is older than the accepted one: refused too
    with pytest.raises(SecondFactorError, match="already used"):
        f.verify(subject, code_at(e.secret, now - 30))
    clock.t += 30
    # next step's code one step early (clock skew) is accepted; then the current one is a replay of an older step
    f.verify(subject, code_at(e.secret, int(clock()) + 30))
    with pytest.raises(SecondFactorError, match="already used"):
        f.verify(subject, code_at(e.secret, int(clock())))
    clock.t += 90
    with pytest.raises(SecondFactorError, match="wrong or expired"):
        f.verify(subject, code_at(e.secret, int(clock()) - 60))  # two steps old: outside the window
    with pytest.raises(SecondFactorRequired):
        f.require_second_factor(7, None)
    # the replay store is durable: a second process (a new object on the same database) refuses a used code
    clock.t += 30
    code = code_at(e.secret, int(clock()))
    f.require_second_factor(7, code)
    other = open_backoffice(db, clock)
    with pytest.raises(SecondFactorError, match="already used"):
        other.factors.require_second_factor(7, code)
    other.close()
    # throttling: after 3 wrong codes in a row, even the right code is refused until the lockout ends
    clock.t += 30
    for _ in range(2):
        with pytest.raises(SecondFactorError):
            f.verify(subject, "000000" if code_at(e.secret, int(clock())) != "000000" else "111111")
    with pytest.raises(SecondFactorError):
        f.verify(subject, "12345")  # malformed counts too (tried as a recovery code)
    with pytest.raises(SecondFactorLocked):
        f.verify(subject, code_at(e.secret, int(clock())))
    clock.t += 61
    f.verify(subject, code_at(e.secret, int(clock())))
    # recovery codes: each works once, in any case and with or without dashes
    rc = e.recovery_codes[0]
    f.verify(subject, rc.upper().replace("-", ""))
    with pytest.raises(SecondFactorError, match="recovery"):
        f.verify(subject, rc)
    assert f.recovery_codes_left(subject) == 9
    bo.close()


def test_accounts_without_2fa_need_no_code(db: Db, clock: Clock) -> None:
    bo = open_backoffice(db, clock)
    bo.factors.require_second_factor(99, None)
    bo.factors.require_second_factor(99, "123456")  # ignored: nothing enrolled
    with pytest.raises(SecondFactorError, match="no second factor"):
        bo.factors.verify(account_subject(99), "123456")
    bo.close()


def test_the_same_code_raced_from_two_processes_passes_once(db: Db, clock: Clock) -> None:
    import threading

    first = open_backoffice(db, clock)
    e = first.factors.enrol(account_subject(5), "racer")
    first.factors.verify(account_subject(5), code_at(e.secret, int(clock()) - 30))
    others = [open_backoffice(db, clock) for _ in range(4)]  # four engines: as four processes would
    code = code_at(e.secret, int(clock()))
    results: list[str] = []
    start = threading.Barrier(len(others))

    def attempt(bo: object) -> None:
        start.wait()
        try:
            bo.factors.require_second_factor(5, code)  # type: ignore[attr-defined]
            results.append("ok")
        except SecondFactorError as exc:
            results.append(str(exc))

    threads = [threading.Thread(target=attempt, args=(bo,)) for bo in others]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["code already used"] * 3 + ["ok"]
    for bo in [first, *others]:
        bo.close()
