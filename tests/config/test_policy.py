"""Routing policies: load, inherit, validate with clear errors, reload keeping the running set, watch."""

from __future__ import annotations

import asyncio
import os
from decimal import Decimal
from pathlib import Path

import pytest

from config.policy import PolicyError, PolicySet, PolicyStore, RoutingPolicy, load_policies, parse_policies
from config.settings import VENUES, Settings
from tests.support import eventually

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "routing.example.toml"

GOOD = """
[default]
venues = ["binance", "kraken"]
max_level_share = 0.5
fees = { kraken = 0.002, binance = 0.0009 }
priority = { kraken = 0 }

[symbols."BTC/USDT"]
max_child_notional = 250000
fees = { kraken = 0.0015 }
time_budget_s = 1.5
internalise = false
"""


def write(path: Path, text: str, mtime_ns: int | None = None) -> None:
    path.write_text(text, encoding="utf-8")
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))


def test_built_in_defaults() -> None:
    p = RoutingPolicy()
    assert p.venues == VENUES
    assert p.max_level_share == Decimal(1)
    assert p.max_rounds == 3 and p.time_budget_s == 2.0 and p.child_timeout_s == 2.0
    assert p.internalise is True
    assert p.max_child_notional is None and p.slippage_limit_bps is None and p.stale_after_s is None
    assert p.market_protection_bps == Decimal(100)
    assert PolicySet().for_symbol("BTC/USDT") == p


def test_symbol_inherits_default_and_merges_fee_tables() -> None:
    ps = parse_policies(GOOD, "desk.toml")
    d = ps.default
    assert d.venues == ("binance", "kraken")
    assert d.max_level_share == Decimal("0.5")
    btc = ps.for_symbol("BTC/USDT")
    assert btc.venues == ("binance", "kraken")  # inherited
    assert btc.max_level_share == Decimal("0.5")  # inherited
    assert btc.max_child_notional == Decimal(250000)
    assert btc.time_budget_s == 1.5
    assert btc.internalise is False
    assert btc.fees == {"kraken": Decimal("0.0015"), "binance": Decimal("0.0009")}  # merged key by key
    assert btc.priority == {"kraken": 0}
    assert ps.for_symbol("ETH/USDT") is d


def test_decimals_are_exact() -> None:
    ps = parse_policies('[default]\nfees = { kraken = 0.0026 }\nslippage_limit_bps = "12.5"\n')
    assert ps.default.fees["kraken"] == Decimal("0.0026")
    assert str(ps.default.fees["kraken"]) == "0.0026"
    assert ps.default.slippage_limit_bps == Decimal("12.5")
    with pytest.raises(Exception, match="exactly"):
        RoutingPolicy(max_level_share=0.5)  # type: ignore[arg-type]


def test_helpers() -> None:
    p = parse_policies(GOOD).for_symbol("BTC/USDT")
    assert p.allows("kraken") and not p.allows("htx")
    assert p.fee_for("kraken", Decimal("0.0026")) == Decimal("0.0015")
    assert p.fee_for("htx", Decimal("0.002")) == Decimal("0.002")
    assert p.priority_for("kraken", 1) == 0 and p.priority_for("htx", 2) == 2
    assert p.stale_after_for(10.0) == 10.0
    assert parse_policies("[default]\nstale_after_s = 3\n").default.stale_after_for(10.0) == 3.0


def test_example_file_is_valid() -> None:
    ps = load_policies(EXAMPLE)
    assert ps.source == str(EXAMPLE)
    assert ps.default == RoutingPolicy()
    assert ps.for_symbol("BTC/USDT").venues == ("binance", "kraken")
    assert ps.for_symbol("ETH/USDT").internalise is False


@pytest.mark.parametrize(
    ("text", "table", "fld", "words"),
    [
        ("[default]\nmax_level_share = 1.5\n", "[default]", "max_level_share", "less than or equal to 1"),
        ("[default]\nmax_level_share = 0\n", "[default]", "max_level_share", "greater than 0"),
        ("[default]\nfoo = 1\n", "[default]", "foo", "unknown field"),
        ('[default]\nvenues = ["okx"]\n', "[default]", "venues", "unknown venue 'okx'"),
        ('[default]\nvenues = ["kraken", "kraken"]\n', "[default]", "venues", "more than once"),
        ("[default]\nvenues = []\n", "[default]", "venues", "at least 1"),
        ("[default]\nfees = { okx = 0.001 }\n", "[default]", "fees", "unknown venue 'okx'"),
        ("[default]\nfees = { kraken = -0.001 }\n", "[default]", "fees.kraken", "greater than or equal to 0"),
        ("[default]\npriority = { kraken = 1.5 }\n", "[default]", "priority.kraken", "integer"),
        ("[default]\nmax_rounds = 0\n", "[default]", "max_rounds", "greater than or equal to 1"),
        ("[default]\nmax_rounds = true\n", "[default]", "max_rounds", "integer"),
        ("[default]\ntime_budget_s = -1\n", "[default]", "time_budget_s", "greater than 0"),
        ("[default]\nchild_timeout_s = 0\n", "[default]", "child_timeout_s", "greater than 0"),
        ("[default]\nstale_after_s = 0\n", "[default]", "stale_after_s", "greater than 0"),
        ("[default]\nmax_child_notional = -5\n", "[default]", "max_child_notional", "greater than 0"),
        ("[default]\nmarket_protection_bps = 0\n", "[default]", "market_protection_bps", "greater than 0"),
        ('[default]\nmax_level_share = "half"\n', "[default]", "max_level_share", "valid decimal"),
        ('[default]\ninternalise = "yes"\n', "[default]", "internalise", "boolean"),
        (
            '[symbols."BTC/USDT"]\nslippage_limit_bps = -1\n',
            '[symbols."BTC/USDT"]',
            "slippage_limit_bps",
            "greater than or equal to 0",
        ),
        ('[symbols."BTC/USDT"]\nbogus = 1\n', '[symbols."BTC/USDT"]', "bogus", "unknown field"),
    ],
)
def test_invalid_values_name_file_table_and_field(text: str, table: str, fld: str, words: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policies(text, "desk.toml")
    msg = str(info.value)
    assert msg.startswith(f"desk.toml: {table}: field '{fld}'"), msg
    assert words in msg, msg


def test_bad_toml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "desk.toml"
    write(path, "[default]\nmax_rounds = 3\nmax_level_share = = 0.5\n")
    with pytest.raises(PolicyError) as info:
        load_policies(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: invalid TOML") and "line 3" in msg, msg


def test_structure_errors() -> None:
    with pytest.raises(PolicyError, match=r"desk.toml: unknown top-level key 'defaults'"):
        parse_policies("[defaults]\nmax_rounds = 2\n", "desk.toml")
    with pytest.raises(PolicyError, match=r"desk.toml: \[default\] must be a table"):
        parse_policies("default = 3\n", "desk.toml")
    with pytest.raises(PolicyError, match=r'\[symbols."btcusdt"\]: symbol must be written BASE/QUOTE'):
        parse_policies('[symbols."btcusdt"]\nmax_rounds = 2\n', "desk.toml")
    with pytest.raises(PolicyError, match=r"desk.toml: \[symbols\] must be a table"):
        parse_policies("symbols = 1\n", "desk.toml")


def test_missing_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read the routing file"):
        load_policies(tmp_path / "absent.toml")


def test_store_without_file_runs_on_defaults() -> None:
    store = PolicyStore(None)
    assert store.version == 1
    assert store.for_symbol("BTC/USDT") == RoutingPolicy()
    assert store.reload() is False and not store.changed()


def test_store_from_settings(tmp_path: Path) -> None:
    path = tmp_path / "desk.toml"
    write(path, GOOD)
    store = PolicyStore.from_settings(Settings(routing_file=str(path)))
    assert store.for_symbol("BTC/USDT").max_child_notional == Decimal(250000)


def test_invalid_file_at_start_raises(tmp_path: Path) -> None:
    path = tmp_path / "desk.toml"
    write(path, "[default]\nmax_rounds = 0\n")
    with pytest.raises(PolicyError, match="max_rounds"):
        PolicyStore(path)


def test_reload_keeps_running_policy_on_invalid_file_and_picks_up_valid_change(tmp_path: Path) -> None:
    path = tmp_path / "desk.toml"
    write(path, GOOD)
    store = PolicyStore(path)
    assert store.version == 1
    running = store.current

    write(path, GOOD.replace("max_level_share = 0.5", "max_level_share = 2"))
    assert store.reload() is False
    assert store.current is running and store.version == 1
    assert store.last_error is not None and "max_level_share" in store.last_error and str(path) in store.last_error

    write(path, "[default\n")
    assert store.reload() is False
    assert store.current is running and "invalid TOML" in (store.last_error or "")

    path.unlink()
    assert store.reload() is False and store.current is running

    write(path, GOOD.replace("max_level_share = 0.5", "max_level_share = 0.25"))
    assert store.reload() is True
    assert store.version == 2 and store.last_error is None
    assert store.for_symbol("BTC/USDT").max_level_share == Decimal("0.25")


async def test_watch_reloads_when_mtime_changes(tmp_path: Path) -> None:
    path = tmp_path / "desk.toml"
    write(path, GOOD, mtime_ns=1_000_000_000_000_000_000)
    store = PolicyStore(path)
    checks = 0
    changed = store.changed

    def counted() -> bool:  # counts the watcher's looks at the file, so the test waits for them
        nonlocal checks
        checks += 1
        return changed()

    store.changed = counted  # type: ignore[method-assign]
    task = asyncio.create_task(store.watch(0.01))
    try:
        await eventually(lambda: checks >= 3)
        assert store.version == 1  # nothing changed, nothing reloaded

        write(path, GOOD.replace("time_budget_s = 1.5", "time_budget_s = 0.5"), mtime_ns=1_000_000_001_000_000_000)
        await eventually(lambda: store.version == 2)
        assert store.for_symbol("BTC/USDT").time_budget_s == 0.5

        write(path, "[default]\nmax_rounds = -1\n", mtime_ns=1_000_000_002_000_000_000)
        await eventually(lambda: store.last_error is not None)
        assert store.version == 2
        assert store.for_symbol("BTC/USDT").time_budget_s == 0.5
        seen = checks
        await eventually(lambda: checks >= seen + 3)
        assert store.version == 2  # the rejected file is not retried until it changes again
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_watch_off_returns_at_once() -> None:
    await asyncio.wait_for(PolicyStore(None).watch(0.01), 1)
