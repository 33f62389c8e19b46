from decimal import Decimal
from pathlib import Path

import pytest

from connectors.capture import LineKind, read_capture
from connectors.htx.instruments import parse_symbols


@pytest.fixture(scope="module")
def instruments(samples: Path) -> dict[str, object]:
    lines = list(read_capture(samples / "HUOBI.0"))
    assert [line.kind for line in lines] == [LineKind.HTTP, LineKind.CONFIG]
    assert lines[0].url is not None and lines[0].url.endswith("/v1/common/symbols")
    return {inst.venue_symbol: inst for inst in parse_symbols(lines[0].payload)}


def test_btcusdt_rules(instruments: dict) -> None:
    btc = instruments["btcusdt"]
    assert (btc.symbol, btc.base, btc.quote, btc.venue) == ("BTC/USDT", "BTC", "USDT", "htx")
    assert btc.tick_size == Decimal("0.01") and btc.price_decimals == 2
    assert btc.step_size == Decimal("0.000001") and btc.qty_decimals == 6
    assert btc.min_qty == Decimal("0.0001")
    assert btc.min_notional == Decimal("5")
    assert btc.trading


def test_tiny_prices_and_capture_symbols(instruments: dict) -> None:
    trio = instruments["trioeth"]
    assert trio.symbol == "TRIO/ETH"
    assert trio.tick_size == Decimal("1E-10")
    assert len(instruments) > 900


def test_state_other_than_online_is_not_trading_and_bad_entries_are_skipped() -> None:
    body = (
        '{"status":"ok","data":['
        '{"base-currency":"abc","quote-currency":"usdt","symbol":"abcusdt","price-precision":4,'
        '"amount-precision":2,"min-order-amt":0.1,"min-order-value":5,"state":"offline"},'
        '{"base-currency":"bad","quote-currency":"usdt","symbol":"badusdt","price-precision":"x"}]}'
    )
    (abc,) = parse_symbols(body)
    assert abc.symbol == "ABC/USDT" and not abc.trading
    assert abc.tick_size == Decimal("0.0001") and abc.min_qty == Decimal("0.1")


def test_error_response_raises() -> None:
    with pytest.raises(ValueError):
        parse_symbols('{"status":"error","err-code":"x"}')
