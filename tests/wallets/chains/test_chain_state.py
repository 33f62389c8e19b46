"""The pieces under the watchers: the address book, exact 256-bit amounts in the outbox, the settings."""

from __future__ import annotations

from sqlalchemy import Engine, select

from config.settings import Settings
from wallets.chains import (
    BlockRef,
    Observation,
    WatchedAddresses,
    WatcherStore,
    btc_to_sat,
)
from wallets.chains.models import chain_observations


def test_address_book_normalises_and_answers_per_network() -> None:
    book = WatchedAddresses()
    book.add("ETH", "0x52908400098527886E0F7030069857D2E4169EE7", "acct-1")  # an EIP-55 vector
    book.add("BTC", "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "acct-2")  # a BIP-173 vector, upper case
    book.add("BTC", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "acct-3")  # base58 is case-sensitive
    assert book.account_for("ETH", "0x52908400098527886e0f7030069857d2e4169ee7") == "acct-1"
    assert book.lookup_for("BTC")("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4") == "acct-2"
    assert book.account_for("BTC", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2") == "acct-3"
    assert book.account_for("BTC", "1bvbmseystwetqtfn5au4m4gfg7xjanvn2") is None
    assert book.account_for("BSC", "0x52908400098527886e0f7030069857d2e4169ee7") is None
    assert len(book) == 3


def test_btc_amounts_are_exact() -> None:
    from decimal import Decimal

    assert btc_to_sat(Decimal("0.00000001")) == 1
    assert btc_to_sat(Decimal("20999999.97690000")) == 2099999997690000
    try:
        btc_to_sat(Decimal("0.000000001"))
    except ValueError:
        pass
    else:
        raise AssertionError("sub-satoshi amount accepted")


def test_outbox_keeps_256_bit_amounts_and_sources_exactly(chain_engine: Engine) -> None:
    store = WatcherStore(chain_engine, "ETH")
    big = 2**256 - 1
    obs = Observation(
        "ETH",
        "0x" + "ab" * 32,
        "3",
        "0x" + "cd" * 20,
        "USDT",
        big,
        7,
        "0x" + "01" * 32,
        "acct",
        "0x" + "ef" * 20,
        sources=("0x" + "12" * 20,),  # the payer travels through the outbox too (re-delivered after a restart)
    )
    store.apply_block(BlockRef(7, "0x" + "01" * 32), [obs])
    assert store.undelivered() == [(obs, False)]
    with chain_engine.connect() as conn:
        assert conn.execute(select(chain_observations.c.amount)).scalar() == big
    store.mark_delivered([obs])
    assert store.undelivered() == []
    assert store.rollback_to(6) == [obs]
    assert store.undelivered() == [(obs, True)] and store.tip() is None


def test_chain_settings_from_environment(monkeypatch: object) -> None:
    mp = monkeypatch
    mp.setenv("BRAID_CHAINS__BTC__RPC_URL", "http://127.0.0.1:18443/")  # type: ignore[attr-defined]
    mp.setenv("BRAID_CHAINS__BTC__RPC_PASSWORD", "hunter2")  # type: ignore[attr-defined]
    mp.setenv("BRAID_CHAINS__ETH__TOKENS", '{"USDT": "0xdAC17F958D2ee523a2206206994597C13D831ec7"}')  # type: ignore[attr-defined]
    mp.setenv("BRAID_CHAINS__BSC__START_HEIGHT", "1000")  # type: ignore[attr-defined]
    s = Settings()
    assert s.chains.btc.rpc_password.get_secret_value() == "hunter2"
    assert s.chains.eth.tokens == {"USDT": "0xdAC17F958D2ee523a2206206994597C13D831ec7"}
    assert (s.chains.bsc.start_height, s.chains.bsc.chain_id, s.chains.bsc.native_asset) == (1000, 56, "BNB")
    assert (s.chains.eth.chain_id, s.chains.eth.native_asset) == (1, "ETH")
