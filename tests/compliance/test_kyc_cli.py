"""`braid kyc set-tier`: only an operator whose role may set tiers does it, and the change is in the audit log."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest

from compliance import AuditLog
from compliance.operator_models import open_engine
from gateway.cli import build_parser
from tests.compliance.conftest import make_operators, settings_for
from tests.wallets.conftest import Db


def test_set_tier_needs_the_role_and_is_audited(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = settings_for(Db(f"sqlite:///{tmp_path}/braid.db", None), tmp_path)
    make_operators(settings, olga="compliance_officer", sam="support")

    def run(actor: str) -> tuple[int, str]:
        argv = ["kyc", "set-tier", "--account", "9", "--tier", "2", "--reason", "passport checked", "--actor", actor]
        args = build_parser("kyc").parse_args(argv)
        out = io.StringIO()
        return args.run(args, settings, out), out.getvalue()

    assert run("sam")[0] == 2 and "lacks permission kyc.set_tier" in capsys.readouterr().err
    assert run("mallory")[0] == 2 and "no operator 'mallory'" in capsys.readouterr().err
    code, out = run("olga")
    assert code == 0 and orjson.loads(out)["to"] == 2
    audit = AuditLog(open_engine(settings.database_url))
    try:
        [entry] = audit.entries(action="kyc.set_tier")
        assert (entry.actor, entry.ip, entry.target) == ("olga", "local", "account:9")
        assert orjson.loads(entry.details) == {"from": 0, "to": 2, "reason": "passport checked", "source": "operator"}
        assert [e.target for e in audit.entries(action="operator.denied")] == ["kyc.set_tier"]  # sam's refusal
        assert audit.verify() == (len(audit.entries()), [])
    finally:
        audit.close()
