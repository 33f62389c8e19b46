"""The generated multi-venue market: reproducible, and clean through the real feeds into the consolidated book."""

from __future__ import annotations

import json
from decimal import Decimal

from connectors.recording import MANIFEST, capture_files, verify_manifest
from connectors.replay import Replayer
from connectors.simulators.generated import generate_market
from router.consolidated import ConsolidatedMarket

VENUES = {"binance", "kraken", "htx"}


def _bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_same_seed_gives_the_same_bytes_and_another_seed_differs(tmp_path):
    a = generate_market(tmp_path / "a", seed=7, seconds=6)
    b = generate_market(tmp_path / "b", seed=7, seconds=6)
    c = generate_market(tmp_path / "c", seed=8, seconds=6)
    assert _bytes(a.folder) == _bytes(b.folder)
    assert _bytes(a.folder)["market-0001.jsonl.gz"] != _bytes(c.folder)["market-0001.jsonl.gz"]
    assert verify_manifest(a.folder) == []


def test_generated_market_replays_through_the_live_feeds_without_a_single_resync(generated):
    market = ConsolidatedMarket()
    r = Replayer([generated], market=market)
    result = r.run()
    assert result.errors == [] and result.unanswered_snapshots == []
    assert {f.venue for f in result.feeds} == VENUES
    for feed in result.feeds:
        stats = feed.health.stats
        assert (stats.resyncs, stats.checksum_failures, stats.bad_frames) == (0, 0, 0), feed.venue
        assert all(b.synced for b in feed.books.values()), feed.venue
        assert set(feed.books) == {"BTC/USDT", "ETH/USDT"}
    kraken = r.feed("kraken")
    assert kraken.checksums_ok > 100  # every update carried a CRC32 and it matched
    assert kraken.books["BTC/USDT"].price_scale == 1  # the pair precision came from AssetPairs
    for sym in ("BTC/USDT", "ETH/USDT"):
        book = market[sym]
        assert book.live_venues(r.now_ns) == ["binance", "kraken", "htx"]
        seen = {v for lv in book.bids(60, now_ns=r.now_ns) + book.asks(60, now_ns=r.now_ns) for v, _ in lv.venues}
        assert seen == VENUES
    # Each venue keeps its own tick size: Kraken BTC/USDT quotes on 0.1, the others on 0.01.
    assert all(p % Decimal("0.1") == 0 for p, _ in kraken.books["BTC/USDT"].bids(50))
    assert any(p % Decimal("0.1") != 0 for p, _ in r.feed("binance").books["BTC/USDT"].bids(50))


def test_the_mid_prices_follow_one_latent_price_with_dislocations_on_record(generated):
    meta = json.loads((generated / "market.json").read_text())
    assert meta["seed"] == 1 and meta["dislocations"], "at least one dislocation in 40 s"
    market = ConsolidatedMarket()
    r = Replayer([generated], market=market)
    mids: dict[str, list[Decimal]] = {v: [] for v in VENUES}

    def sample(rep: Replayer) -> None:
        for f in rep.feeds:
            b = f.books["BTC/USDT"]
            if b.synced:
                mids[f.venue].append((b.best_bid()[0] + b.best_ask()[0]) / 2)

    r.every(1_000_000_000, sample, start_ns=r.first_ns + 2_000_000_000)
    r.run()
    n = min(len(m) for m in mids.values())
    assert n >= 30
    for i in range(n):  # every venue within 30 bps of Binance at every sample (dislocations included)
        ref = mids["binance"][i]
        assert all(abs(mids[v][i] - ref) / ref < Decimal("0.003") for v in VENUES)
    manifest = json.loads((generated / MANIFEST).read_text())
    assert set(manifest["venues"]) == VENUES
    assert manifest["venues"]["kraken"]["symbols"] == ["ETH/USDT", "XBT/USDT"]  # venue symbols
    assert manifest["venues"]["htx"]["symbols"] == ["btcusdt", "ethusdt"]


def test_kraken_v1_variant_with_xbt_spelling_replays_cleanly(tmp_path):
    g = generate_market(tmp_path / "v1", seed=3, seconds=8, venues=("kraken",), kraken_version=1)
    result = Replayer(capture_files(g.folder)).run()
    (feed,) = result.feeds
    assert feed.version == 1  # type: ignore[attr-defined]
    assert feed.books["BTC/USDT"].venue_symbol == "XBT/USDT"
    assert feed.health.stats.checksum_failures == 0 and feed.health.stats.resyncs == 0
    assert feed.checksums_ok > 20  # type: ignore[attr-defined]
    assert all(b.synced for b in feed.books.values())


def test_shipped_samples_replay_cleanly_and_say_how_they_were_made():
    from tests.conftest import SAMPLES

    for name, venues in (("seed1", VENUES), ("kraken_v1_seed1", {"kraken"})):
        shipped = SAMPLES.parent / "generated" / name
        meta = json.loads((shipped / "market.json").read_text())
        assert meta["seed"] == 1 and set(meta["venues"]) == venues
        assert verify_manifest(shipped) == []
        result = Replayer([shipped]).run()
        assert {f.venue for f in result.feeds} == venues
        for f in result.feeds:
            assert (f.health.stats.resyncs, f.health.stats.checksum_failures, f.health.stats.bad_frames) == (0, 0, 0)
            assert all(b.synced for b in f.books.values())


def test_a_jump_dislocation_moves_that_venue_away_from_the_others(tmp_path):
    jumps = []
    for seed in (5, 8, 9):  # seeds whose first dislocation (15-30 s in) is a jump, on three different venues
        g = generate_market(tmp_path / str(seed), seed=seed, seconds=40)
        jumps += [(g.folder, d) for d in g.dislocations if d.kind == "jump"]
    assert {d.venue for _, d in jumps} == VENUES
    gaps: list[tuple[float, Decimal]] = []

    def mid(rep: Replayer, venue: str, symbol: str) -> Decimal:
        b = rep.feed(venue).books[symbol]
        return (b.best_bid()[0] + b.best_ask()[0]) / 2

    for folder, d in jumps:

        def probe(rep: Replayer, d=d) -> None:
            others = [mid(rep, v, d.symbol) for v in sorted(VENUES - {d.venue})]
            ref = sum(others) / len(others)
            gaps.append((d.bps, (mid(rep, d.venue, d.symbol) - ref) / ref * 10_000))

        r = Replayer([folder])
        r.at((d.start_ns + d.end_ns) // 2, probe)
        r.run()
    assert len(gaps) == len(jumps)
    for bps, seen in gaps:  # the venue sits about `bps` away (within a few bp of lag and spread noise)
        assert abs(seen - Decimal(str(bps))) < 3, (bps, seen)
