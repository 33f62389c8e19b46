"""`braid serve --source simulated`: the status page still works, the printed demo key trades through
the Binance-compatible API on the simulated venues' books, and custody answers a deposit address (the
dev chains of the embedded default; BTC only here, to start fast)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import ccxt
import pytest
import requests

from tests.gateway.conftest import CCXT_OPTIONS
from tests.support import eventually_sync

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # type: ignore[no-any-return]


@pytest.mark.slow
def test_serve_prints_demo_key_that_trades(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "BRAID_DATA_DIR": str(tmp_path / "var"),
        "BRAID_CONFIG_FILE": str(tmp_path / "none.toml"),
        "BRAID_CHAINS__NETWORKS": '["BTC"]',
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--source", "simulated", "--port", str(port)],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = []
        while not any("secret" in line for line in lines):
            line = proc.stdout.readline()  # type: ignore[union-attr]
            assert line, "braid serve ended before printing the demo key: " + "".join(lines)
            lines.append(line)
        key = next(line for line in lines if "API key" in line).split()[-1]
        secret = next(line for line in lines if "secret" in line).split()[-1]
        url = f"http://127.0.0.1:{port}"
        assert requests.get(f"{url}/status").json()["venues"]
        assert "Braid" in requests.get(f"{url}/").text
        ex = ccxt.binance({"apiKey": key, "secret": secret, "options": dict(CCXT_OPTIONS)})
        ex.urls["api"]["public"] = ex.urls["api"]["private"] = f"{url}/api/v3"
        ex.urls["api"]["sapi"] = f"{url}/sapi/v1"
        ex.load_markets()
        # custody on the embedded default: dev chains and a dev key ceremony, so deposit addresses are served
        assert ex.fetch_deposit_address("BTC", {"network": "BTC"})["address"].startswith("bcrt1")
        # the simulated venues sync within a moment
        eventually_sync(
            lambda: (ob := ex.fetch_order_book("BTC/USDT"))["bids"] and ob["asks"],
            timeout=20,
            interval=0.2,
            what="a two-sided BTC/USDT book",
        )
        order = ex.create_order("BTC/USDT", "market", "buy", 0.01)
        assert order["status"] == "closed" and order["filled"] == 0.01
        assert ex.fetch_balance()["BTC"]["total"] > 2
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
