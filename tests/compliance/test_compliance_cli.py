"""`braid compliance ...` end to end on a SQLite database: load a list, screen, work a case to its close."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest

from compliance import AuditLog
from compliance.operator_models import open_engine
from config.settings import Settings
from gateway.cli import build_parser
from tests.compliance.conftest import OFAC, make_operators


def run(settings: Settings, *argv: str) -> tuple[int, list[dict[str, object]]]:
    args = build_parser().parse_args(["compliance", *argv])
    out = io.StringIO()
    code = args.run(args, settings, out)
    return code, [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_load_screen_and_close_a_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(data_dir=str(tmp_path / "var"))
    code, _ = run(settings, "sanctions", "load", str(OFAC / "sdn.csv"), str(OFAC / "alt.csv"))
    assert code == 2 and "--published" in capsys.readouterr().err
    code, out = run(settings, "sanctions", "screen-name", "Xiaobing Yan")
    assert code == 2 and "no sanctions list is loaded" in capsys.readouterr().err

    code, out = run(settings, "sanctions", "load", str(OFAC / "sdn_advanced.xml"), "--actor", "alice")
    assert code == 0 and out[0]["new"] is True and out[0]["published"] == "2024-05-03" and out[0]["entries"] == 39
    assert out[1] == {"rescreened": 0, "hits": []}
    code, out = run(settings, "sanctions", "status")
    assert out[0]["current"] == 1 and out[0]["lists"][0]["loadedBy"] == "alice"

    code, out = run(settings, "sanctions", "screen-name", "Xiaobing Yan", "--dob", "1977-03-25", "--account", "5")
    assert code == 1 and out[0]["decision"] == "hit" and out[0]["hits"][0]["uid"] == 25308
    case = out[0]["case"]
    code, out = run(settings, "sanctions", "screen-address", "ETH", "0x098b716b8aaf21512996dc57eb0615e2383e2f96")
    assert code == 1 and out[0]["hits"][0]["name"] == "LAZARUS GROUP"
    code, out = run(settings, "sanctions", "screen-address", "BTC", "1AjZPMsnmpdK2Rv9KQNfMurTXinscVro9v")
    assert code == 0 and out[0]["decision"] == "clear"

    code, out = run(settings, "cases", "list", "--state", "open")
    assert [c["case"] for c in out] == [case]
    code, _ = run(settings, "cases", "investigate", str(case), "--actor", "alice")
    assert code == 2 and "'alice' is not an operator" in capsys.readouterr().err  # roles are checked
    make_operators(settings, alice="compliance_officer", bob="compliance_officer", sam="support")
    code, _ = run(settings, "cases", "investigate", str(case), "--actor", "sam")
    assert code == 2 and "lacks permission cases.decide" in capsys.readouterr().err  # support reads only
    assert run(settings, "cases", "investigate", str(case), "--actor", "alice")[1][0]["state"] == "investigating"
    assert run(settings, "cases", "note", str(case), "passport matches", "--actor", "alice")[0] == 0
    code, _ = run(settings, "cases", "close", str(case), "--resolution", "true match", "--actor", "alice")
    assert code == 2 and "another operator must close it" in capsys.readouterr().err
    code, out = run(
        settings, "cases", "close", str(case), "--resolution", "true match", "--sar-filed", "--actor", "bob"
    )
    assert code == 0 and out[0]["state"] == "closed" and out[0]["sarFiled"] is True
    code, out = run(settings, "cases", "show", str(case))
    assert [e["action"] for e in out[0]["log"]] == ["open", "investigate", "note", "close"]
    assert out[0]["evidence"]["listVersion"].startswith("OFAC-SDN 2024-05-03 advanced-xml")
    audit = AuditLog(open_engine(settings.database_url))
    try:
        entries = [(e.actor, e.action, e.target) for e in audit.entries() if e.action.split(".")[0] != "operator"]
        # the rule set in use, recorded when it first (or newly) differs, with where it came from
        assert entries[0][:2] == ("system", "aml.rules") and entries[0][2].endswith("rules.default.toml")
        assert entries[1:] == [
            ("alice", "sanctions.load", "list:1"),
            ("alice", "case.investigate", f"case:{case}"),
            ("bob", "case.close", f"case:{case}"),
        ]
        assert audit.verify() == (len(audit.entries()), [])
    finally:
        audit.close()
