"""Operators: the permission table checked in one place, separation of duties, and login (password, address,
TOTP once) with lockout, every attempt audited; the `braid operators` commands; on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import time
from pathlib import Path

import orjson
import pytest

from compliance import (
    ROLES,
    LoginFailed,
    NotAuthorized,
    OperatorError,
    SeparationOfDuties,
    authorize,
    check_case_closer,
    check_not_requester,
)
from compliance import operators as perms
from compliance.operators import Operator
from compliance.totp import code_at
from gateway.cli import build_parser
from tests.compliance.conftest import Clock, open_backoffice, settings_for
from tests.wallets.conftest import Db

PASSWORD = "correct horse battery"


def test_permission_table() -> None:
    expect = {  # role -> permissions it must have and must not have
        "admin": (perms.ALL_PERMISSIONS, set()),
        "compliance_officer": (
            {perms.DECIDE_CASES, perms.SET_TIER, perms.CHANGE_RULES, perms.READ_AUDIT},
            {perms.APPROVE_WITHDRAWAL, perms.MANAGE_OPERATORS, perms.SET_MARKUP},
        ),
        "treasury_approver": (
            {perms.APPROVE_WITHDRAWAL, perms.REQUEST_WITHDRAWAL},
            {perms.DECIDE_CASES, perms.SET_TIER, perms.MANAGE_OPERATORS},
        ),
        "support": (
            {perms.READ_ACCOUNTS, perms.READ_CASES},
            perms.ALL_PERMISSIONS - {perms.READ_ACCOUNTS, perms.READ_CASES},
        ),
    }
    assert set(ROLES) == set(expect)
    for role, (has, lacks) in expect.items():
        op = Operator("x", role, (), False)
        for p in has:
            assert authorize(op, p, "1.2.3.4") is op
        for p in lacks:
            with pytest.raises(NotAuthorized, match="lacks permission"):
                authorize(op, p, "1.2.3.4")
    admin = Operator("root", "admin", ("10.0.0.0/8",), False)
    authorize(admin, perms.KILL_SWITCH, "10.1.2.3")
    with pytest.raises(NotAuthorized, match="may not act from"):
        authorize(admin, perms.KILL_SWITCH, "192.168.0.1")
    with pytest.raises(NotAuthorized, match="disabled"):
        authorize(Operator("gone", "admin", (), True), perms.READ_ACCOUNTS, "10.1.2.3")
    with pytest.raises(NotAuthorized, match="unknown permission"):
        authorize(admin, "everything", "10.1.2.3")


def test_separation_of_duties() -> None:
    check_not_requester("alice", "bob")
    with pytest.raises(SeparationOfDuties):
        check_not_requester("alice", "Alice")
    check_case_closer("carol", "dave")
    with pytest.raises(SeparationOfDuties):
        check_case_closer("carol", "carol ")


def test_login_needs_password_address_and_a_fresh_code(db: Db, clock: Clock) -> None:
    bo = open_backoffice(db, clock, login_max_failures=3, login_lockout_s=600)
    ops = bo.operators
    op, enrol = ops.create(
        "alice", PASSWORD, "compliance_officer", ip_allowlist="10.0.0.0/8", actor="cli:root", ip="local"
    )
    assert op.role == "compliance_officer" and op.ip_allowlist == ("10.0.0.0/8",)
    with bo.audit.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT password_hash FROM " + _table(db, "braid_operators")).scalar()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    now = int(clock())
    code = code_at(enrol.secret, now)
    assert ops.login("alice", PASSWORD, code, "10.1.1.1").last_login == now * 1000
    with pytest.raises(LoginFailed):  # the same code again: a replay
        ops.login("alice", PASSWORD, code, "10.1.1.1")
    clock.t += 30
    with pytest.raises(LoginFailed):  # right everything, wrong address
        ops.login("alice", PASSWORD, code_at(enrol.secret, int(clock())), "192.168.1.1")
    with pytest.raises(LoginFailed):
        ops.login("alice", "wrong password!!", code_at(enrol.secret, int(clock())), "10.1.1.1")
    assert ops.get("alice").locked_until > now * 1000  # third failure in a row: locked
    with pytest.raises(LoginFailed):
        ops.login("nobody", PASSWORD, "123456", "10.1.1.1")
    with pytest.raises(LoginFailed):  # locked: even the right password and code are refused
        ops.login("alice", PASSWORD, code_at(enrol.secret, int(clock())), "10.1.1.1")
    clock.t += 601
    ops.login("alice", PASSWORD, code_at(enrol.secret, int(clock())), "10.1.1.1")
    ops.disable("alice", actor="cli:root", ip="local")
    clock.t += 30
    with pytest.raises(LoginFailed):
        ops.login("alice", PASSWORD, code_at(enrol.secret, int(clock())), "10.1.1.1")
    # every attempt is in the audit log with its address and why it failed
    logins = [orjson.loads(e.details) | {"ip": e.ip} for e in bo.audit.entries(action="operator.login")]
    assert [x["result"] for x in logins] == [
        "success",
        "failure",
        "failure",
        "failure",
        "failure",
        "failure",
        "success",
        "failure",
    ]
    reasons = [x.get("reason", "") for x in logins]
    assert "already used" in reasons[1] and "allow-list" in reasons[2] and reasons[3] == "wrong password"
    assert logins[3]["locked_s"] == 600 and reasons[4] == "unknown operator" and reasons[5].startswith("locked")
    assert reasons[7] == "disabled" and logins[2]["ip"] == "192.168.1.1"
    assert bo.audit.verify()[1] == []
    bo.close()


def test_authorize_on_the_current_record_audits_refusals(db: Db, clock: Clock) -> None:
    bo = open_backoffice(db, clock)
    op, _ = bo.operators.create("sam", PASSWORD, "support", actor="cli:root", ip="local")
    bo.operators.authorize(op, perms.READ_ACCOUNTS, "1.1.1.1")
    with pytest.raises(NotAuthorized):
        bo.operators.authorize(op, perms.DECIDE_CASES, "1.1.1.1")
    bo.operators.set_role("sam", "compliance_officer", actor="cli:root", ip="local")
    bo.operators.authorize(op, perms.DECIDE_CASES, "1.1.1.1")  # the stale object is re-read: new role counts
    denied = bo.audit.entries(action="operator.denied")
    assert len(denied) == 1 and denied[0].target == perms.DECIDE_CASES
    with pytest.raises(OperatorError, match="at least 12"):
        bo.operators.create("short", "pw", "admin", actor="cli:root", ip="local")
    with pytest.raises(OperatorError, match="role must be one of"):
        bo.operators.create("bad", PASSWORD, "king", actor="cli:root", ip="local")
    with pytest.raises(OperatorError, match="exists"):
        bo.operators.create("sam", PASSWORD, "admin", actor="cli:root", ip="local")
    bo.close()


def _table(db: Db, name: str) -> str:
    return f'"{db.schema}".{name}' if db.schema else name


def _cli(db: Db, tmp_path: Path, *argv: str, stdin: str = "") -> tuple[int, list[dict]]:
    import sys

    args = build_parser().parse_args(["operators", *argv])
    out = io.StringIO()
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = args.run(args, settings_for(db, tmp_path), out)
    finally:
        sys.stdin = old
    return code, [orjson.loads(x) for x in out.getvalue().splitlines()]


def test_operators_commands(db: Db, tmp_path: Path) -> None:
    code, [made] = _cli(
        db,
        tmp_path,
        "create",
        "--username",
        "root",
        "--role",
        "admin",
        "--ip",
        "127.0.0.1",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert code == 0 and made["role"] == "admin" and made["ipAllowlist"] == ["127.0.0.1/32"]
    assert (
        made["totp"]["provisioningUri"].startswith("otpauth://totp/Braid:root?")
        and len(made["totp"]["recoveryCodes"]) == 10
    )
    code, _ = _cli(
        db, tmp_path, "create", "--username", "root", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert code == 2
    code, _ = _cli(
        db,
        tmp_path,
        "login",
        "--username",
        "root",
        "--totp",
        made["totp"]["recoveryCodes"][0],
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert code == 2  # a recovery code cannot confirm a new enrolment: the first login needs a TOTP code
    code, [t] = _cli(
        db,
        tmp_path,
        "login",
        "--username",
        "root",
        "--totp",
        code_at(made["totp"]["secret"], int(time.time())),
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert code == 0 and "operators.manage" in t["permissions"]
    code, [r] = _cli(db, tmp_path, "set-role", "--username", "root", "--role", "support")
    assert code == 0 and r["role"] == "support"
    code, [d] = _cli(db, tmp_path, "disable", "--username", "root")
    assert code == 0 and d["disabled"] is True
    code, [z] = _cli(db, tmp_path, "reset-totp", "--username", "root")
    assert code == 0 and z["totp"]["secret"] != made["totp"]["secret"]
    code, listed = _cli(db, tmp_path, "list")
    assert code == 0 and [x["username"] for x in listed] == ["root"]
    code, _ = _cli(db, tmp_path, "set-role", "--username", "nobody", "--role", "admin")
    assert code == 2
    args = build_parser().parse_args(["audit", "list"])
    out = io.StringIO()
    args.run(args, settings_for(db, tmp_path), out)
    actions = [orjson.loads(x)["action"] for x in out.getvalue().splitlines()]
    assert actions == [
        "operator.create",
        "operator.login",
        "operator.login",
        "operator.set_role",
        "operator.disable",
        "operator.reset_totp",
    ]
