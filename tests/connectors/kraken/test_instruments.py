"""AssetPairs -> Instrument (sample: replay_data/captures/kraken KRAKEN.0)."""

from __future__ import annotations

from decimal import Decimal

from connectors.kraken.instruments import canonical_symbol, load_asset_pairs_file, parse_asset_pairs
from connectors.symbols import SymbolRegistry
from tests.connectors.kraken.conftest import ASSET_PAIRS


def test_xxbtzusd_becomes_btc_usd() -> None:
    by_symbol = {i.symbol: i for i in load_asset_pairs_file(ASSET_PAIRS)}
    btc = by_symbol["BTC/USD"]
    assert (btc.base, btc.quote, btc.venue, btc.venue_symbol) == ("BTC", "USD", "kraken", "XBT/USD")
    assert btc.tick_size == Decimal("0.1") and btc.price_decimals == 1
    assert btc.step_size == Decimal("0.00000001") and btc.qty_decimals == 8
    assert btc.min_qty == Decimal("0.0002")
    assert by_symbol["DOGE/USD"].venue_symbol == "XDG/USD"


def test_pairs_without_wsname_are_skipped() -> None:
    insts = load_asset_pairs_file(ASSET_PAIRS)
    assert len(insts) == 293  # 304 pairs, 11 dark-pool (*.d) without a wsname
    assert all("/" in i.venue_symbol and not i.venue_symbol.endswith(".d") for i in insts)
    registry = SymbolRegistry(insts)
    assert registry.to_canonical("kraken", "XBT/EUR") == "BTC/EUR"


def test_tick_size_costmin_and_status_when_present() -> None:
    body = (
        '{"error":[],"result":{"XXBTZUSD":{"altname":"XBTUSD","wsname":"XBT/USD","base":"XXBT","quote":"ZUSD",'
        '"pair_decimals":1,"lot_decimals":8,"ordermin":"0.0001","costmin":"0.5","tick_size":"0.1","status":"online"},'
        '"XDGUSD":{"altname":"XDGUSD","wsname":"XDG/USD","pair_decimals":7,"lot_decimals":8,"ordermin":"50",'
        '"tick_size":"0.0000005","status":"cancel_only"}}}'
    )
    btc, doge = parse_asset_pairs(body)
    assert btc.symbol == "BTC/USD" and btc.min_notional == Decimal("0.5") and btc.trading
    assert doge.symbol == "DOGE/USD" and doge.tick_size == Decimal("0.0000005") and not doge.trading


def test_canonical_symbol() -> None:
    assert canonical_symbol("XBT/USDT") == "BTC/USDT"
    assert canonical_symbol("XDG/EUR") == "DOGE/EUR"
    assert canonical_symbol("ETH/XBT") == "ETH/BTC"
