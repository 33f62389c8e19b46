"""Record the local simulators over real sockets, then replay the recording: the same books, exactly."""

from __future__ import annotations

import json

from config.settings import Settings
from connectors.base import VenueTrade, connect_trades
from connectors.capture import read_capture
from connectors.recording import MANIFEST, CaptureWriter, Recorder, capture_files, verify_manifest
from connectors.replay import Replayer
from connectors.simulators.launch import launch_simulators
from tests.support import eventually

VENUES = ["binance", "kraken", "htx"]
SYMBOLS = ["BTC/USDT", "ETH/USDT"]


def _messages(recorder: Recorder) -> dict[str, int]:
    return {v: f.health.stats.messages for v, f in recorder.feeds.items()}


def _books_match_the_simulators(recorder: Recorder, sims: dict) -> bool:
    """Every recorded book shows its simulator's top levels: no book frame is still on its way."""
    for venue, feed in recorder.feeds.items():
        for symbol, book in feed.books.items():
            key = symbol if venue == "kraken" else book.venue_symbol  # how each simulator names its books
            bids, asks = sims[venue].book_levels(key, 10)
            if not book.synced or book.bids(10) != bids or book.asks(10) != asks:
                return False
    return True


async def test_recording_of_the_simulators_replays_to_the_live_books_exactly(tmp_path):
    sims, overrides = await launch_simulators(SYMBOLS, VENUES, interval_s=0.02)
    settings = Settings(ws_backoff_initial_s=0.05, ws_backoff_max_s=0.2).with_venue_overrides(overrides)  # type: ignore[arg-type]
    writer = CaptureWriter(tmp_path / "rec", recording="sim-test", rotate_bytes=8 * 1024)
    recorder = Recorder(writer, settings)
    live_trades: list[VenueTrade] = []
    try:
        await recorder.start(VENUES, SYMBOLS)
        for feed in recorder.feeds.values():
            connect_trades(feed, live_trades.append)
        await recorder.wait_synced(timeout=8)
        base = _messages(recorder)
        await eventually(
            lambda: all(n >= base[v] + 10 for v, n in _messages(recorder).items()),
            timeout=8,
            what="live updates on every venue",
        )
        for sim in sims.values():
            await sim.apply_fault("disconnect")  # every connection drops: reconnect, resubscribe, resync
        await eventually(lambda: all(f.health.stats.reconnects >= 1 for f in recorder.feeds.values()), timeout=8)
        await recorder.wait_synced(timeout=8)
        base = _messages(recorder)
        await eventually(
            lambda: all(n >= base[v] + 5 for v, n in _messages(recorder).items()),
            timeout=8,
            what="live updates after the resync",
        )
        for sim in sims.values():
            await sim.apply_fault("stall")  # the market stops; frames in flight arrive
        await eventually(lambda: _books_match_the_simulators(recorder, sims), timeout=8)
        live = {(f.venue, s): b.to_json(10_000) for f in recorder.feeds.values() for s, b in f.books.items()}
        assert all(b.synced for f in recorder.feeds.values() for b in f.books.values())
        live_messages = {v: f.health.stats.messages for v, f in recorder.feeds.items()}
    finally:
        await recorder.stop()
        writer.close()
        for sim in sims.values():
            await sim.stop()

    folder = tmp_path / "rec"
    assert verify_manifest(folder) == []
    manifest = json.loads((folder / MANIFEST).read_text())
    assert set(manifest["venues"]) == set(VENUES)
    assert len(manifest["files"]) >= 2  # rotated by size
    assert manifest["frames"] == sum(f["frames"] for f in manifest["files"])

    replayed_trades: list[VenueTrade] = []
    result = Replayer([folder], settings=settings, on_trade=replayed_trades.append).run()
    # the public trades travel in the same recording: a replay hands over exactly the trades seen live
    assert {t.venue for t in live_trades} >= {"binance", "kraken"}
    assert replayed_trades[-len(live_trades) :] == live_trades
    replayed = {(f.venue, s): b.to_json(10_000) for f in result.feeds for s, b in f.books.items()}
    assert replayed == live
    assert {f.venue: f.health.stats.messages for f in result.feeds} == live_messages
    assert all(f.health.stats.checksum_failures == 0 for f in result.feeds)
    assert [f.health.stats.snapshots for f in result.feeds] == [
        recorder.feeds[f.venue].health.stats.snapshots for f in result.feeds
    ]
    assert result.unanswered_snapshots == [] and result.errors == []
    # REST snapshots and reference data are in the recording, with the recorder's receive times.
    kinds = {(ln.venue, ln.kind.value) for f in capture_files(folder) for ln in read_capture(f)}
    assert all((v, "close") in kinds for v in VENUES)  # the drops are in the recording
    assert ("binance", "http") in kinds and ("kraken", "sent") in kinds and ("htx", "received") in kinds


def test_rotation_by_size_and_time_and_the_manifest(tmp_path):
    def fill(writer: CaptureWriter) -> None:
        for i in range(2000):
            writer.write(
                1_000_000_000 + i * 10_000_000,
                "binance",
                "binance-1",
                "recv",
                f'{{"n":{i},"pad":"{i * 7919 % 100003}"}}',
            )
        writer.write(1_000_000_000, "htx", "htx-1", "recv", b"\x1f\x8b binary")
        writer.close()

    by_size = CaptureWriter(tmp_path / "size", recording="r", rotate_bytes=4096, compresslevel=1)
    fill(by_size)
    by_time = CaptureWriter(tmp_path / "time", recording="r", rotate_bytes=None, rotate_s=5.0)
    fill(by_time)
    for name, expect in (("size", None), ("time", 4)):
        m = json.loads((tmp_path / name / MANIFEST).read_text())
        files = m["files"]
        assert len(files) >= 2 if expect is None else len(files) == expect
        assert m["records"] == 2001 and m["frames"] == 2001
        assert m["venues"]["binance"]["frames"] == 2000 and m["venues"]["htx"]["frames"] == 1
        assert m["time_range_ns"] == [1_000_000_000, 1_000_000_000 + 1999 * 10_000_000]
        assert verify_manifest(tmp_path / name) == []
        lines = [ln for f in capture_files(tmp_path / name) for ln in read_capture(f) if ln.venue]
        assert [ln.payload for ln in lines if ln.venue == "binance"][1999] == '{"n":1999,"pad":"' + str(
            1999 * 7919 % 100003
        ) + '"}'
        assert [ln.payload for ln in lines if ln.venue == "htx"] == [b"\x1f\x8b binary"]
    (tmp_path / "size" / json.loads((tmp_path / "size" / MANIFEST).read_text())["files"][0]["name"]).write_bytes(
        b"changed"
    )
    assert verify_manifest(tmp_path / "size") != []
