"""`braid replay` and the Replayer driver: deterministic output, stepping, callbacks, pacing, looping."""

from __future__ import annotations

import asyncio
import gzip
import io
import json

import orjson

from connectors.recording import capture_files
from connectors.replay import Replayer
from gateway.cli import build_parser
from router.consolidated import ConsolidatedMarket


def _run(argv: list[str]) -> tuple[int, str, str]:
    from config.settings import get_settings
    from gateway import replay_commands

    args = build_parser().parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    if args.run is replay_commands.replay:
        code = replay_commands.replay(args, get_settings(), out, err)
    else:
        code = args.run(args, get_settings(), out)
    return code, out.getvalue(), err.getvalue()


def test_braid_replay_output_is_the_same_bytes_every_time(generated, samples):
    argv = [
        "replay",
        str(generated),
        str(samples / "binance" / "cryptofeed_2021-10-12"),
        "--depth",
        "5",
        "--no-progress",
    ]
    first, second = _run(argv), _run(argv)
    assert first[0] == 0 and first[1] == second[1]
    lines = [json.loads(x) for x in first[1].splitlines()]
    assert lines[0]["kind"] == "summary" and lines[0]["errors"] == []
    books = {x["symbol"]: x for x in lines if x["kind"] == "book"}
    assert books["BTC/USDT"]["venues"] == ["binance", "kraken", "htx"]
    assert "NKN/USDT" in books  # legacy and Braid files mixed in one timeline
    assert len(books["ETH/USDT"]["bids"]) == 5


def test_braid_replay_stops_or_skips_on_a_corrupt_file_as_asked(generated, tmp_path):
    with gzip.open(capture_files(generated)[0], "rb") as fh:
        lines = fh.read().splitlines(keepends=True)[:300]
    lines[120] = b"not json\n"
    bad = tmp_path / "bad.jsonl.gz"
    bad.write_bytes(gzip.compress(b"".join(lines), mtime=0))
    code, out, err = _run(["replay", str(bad), "--no-progress"])
    assert code == 2 and out == "" and f"{bad}:121:" in err
    code, out, err = _run(["replay", str(bad), "--on-error", "skip", "--no-progress"])
    assert code == 0 and f"{bad}:121:" in err
    summary = json.loads(out.splitlines()[0])
    assert summary["errors"] == [f"{bad}:121: " + summary["errors"][0].split(": ", 1)[1]]
    assert summary["frames"] > 200


def test_generate_market_command_is_reproducible(tmp_path):
    code, out, _ = _run(["generate-market", "--seed", "5", "--minutes", "0.05", "--out", str(tmp_path / "a")])
    _run(["generate-market", "--seed", "5", "--minutes", "0.05", "--out", str(tmp_path / "b")])
    assert code == 0 and "seed 5" in out
    assert (tmp_path / "a" / "market-0001.jsonl.gz").read_bytes() == (
        tmp_path / "b" / "market-0001.jsonl.gz"
    ).read_bytes()


def test_callbacks_run_at_replay_times_and_see_the_market_as_of_then(generated):
    market = ConsolidatedMarket()
    r = Replayer([generated], market=market)
    seen: list[tuple[int, list[str], int]] = []

    def probe(rep: Replayer) -> None:
        seen.append((rep.now_ns, market.book("BTC/USDT").live_venues(rep.now_ns), rep.position))

    t0 = r.first_ns
    r.at(t0 + 5_000_000_000, probe)
    r.at(t0 + 2_000_000_000, probe)
    r.run_until(t0 + 3_000_000_000)
    assert [s[0] for s in seen] == [t0 + 2_000_000_000]
    assert r.now_ns == t0 + 3_000_000_000
    assert r.next_event_ns() > t0 + 3_000_000_000  # everything up to then, nothing after
    r.run()
    assert [s[0] for s in seen] == [t0 + 2_000_000_000, t0 + 5_000_000_000]
    assert seen[1][1] == ["binance", "kraken", "htx"]
    # stepping one event at a time reaches the same books as running
    s = Replayer([generated])
    while s.step():
        pass
    assert [b.to_json(50) for f in s.feeds for b in f.books.values()] == [
        b.to_json(50) for f in r.feeds for b in f.books.values()
    ]


def test_paced_replay_gives_the_same_books(generated):
    fast = Replayer([generated])
    fast.run()
    paced = Replayer([generated])
    asyncio.run(paced.run_paced(speed=400.0))
    assert [orjson.dumps(b.to_json(100)) for f in paced.feeds for b in f.books.values()] == [
        orjson.dumps(b.to_json(100)) for f in fast.feeds for b in f.books.values()
    ]


def test_loop_mode_replays_again_with_rebased_times_and_resyncs_cleanly(generated):
    start = 2_000_000_000_000_000_000
    market = ConsolidatedMarket()
    r = Replayer([generated], market=market, loop=True, start_ns=start)
    span = r.last_ns - r.first_ns
    r.run_until(start + span + r.loop_gap_ns + span // 2)  # into the second pass
    assert r.passes == 1
    for f in r.feeds:
        assert f.health.stats.resyncs == 0 and f.health.stats.checksum_failures == 0
        assert all(b.synced for b in f.books.values())
        assert f.health.stats.last_frame_ns > start + span
    assert market.book("ETH/USDT").live_venues(r.now_ns) == ["binance", "kraken", "htx"]


def test_braid_record_simulated_then_braid_replay(tmp_path):
    out = tmp_path / "rec"
    code, text, _ = _run(["record", "--simulated", "--venue", "binance", "--venue", "htx", "--symbols", "BTC/USDT",
                          "--seconds", "1.5", "--out", str(out), "--name", "cli-test"])  # fmt: skip
    assert code == 0 and "recorded" in text
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["recording"] == "cli-test" and set(manifest["venues"]) == {"binance", "htx"}
    code, text, _ = _run(["replay", str(out), "--no-progress"])
    assert code == 0
    feeds = [json.loads(x) for x in text.splitlines() if '"kind":"feed"' in x]
    assert {f["venue"] for f in feeds} == {"binance", "htx"}
    assert all(f["resyncs"] == 0 and all(b["synced"] for b in f["books"].values()) for f in feeds)


async def test_replay_live_serves_a_looping_market_at_wall_clock_times(generated):
    from connectors.replay import replay_live
    from tests.support import eventually

    market = ConsolidatedMarket()
    stop = asyncio.Event()
    task = asyncio.create_task(replay_live([generated], market, speed=20.0, stop=stop))
    await eventually(
        lambda: market.get("BTC/USDT") is not None and market["BTC/USDT"].live_venues() == ["binance", "kraken", "htx"],
        what="every venue live",
    )
    stop.set()
    await asyncio.wait_for(task, 2)
