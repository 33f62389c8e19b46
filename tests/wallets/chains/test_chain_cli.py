"""`braid chain bitcoin-sim` as a user runs it: a process serving Bitcoin Core's JSON-RPC on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from wallets.chains import BitcoinRPC


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_bitcoin_sim_command_serves_rpc() -> None:
    port = _free_port()
    proc = subprocess.Popen(  # noqa: ASYNC220 - the command runs beside the loop, as a user starts it
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "chain",
            "bitcoin-sim",
            "--port",
            str(port),
            "--user",
            "u",
            "--password",
            "p",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "BRAID_LOG_LEVEL": "WARNING"},
    )
    try:
        assert proc.stdout is not None
        url = json.loads(proc.stdout.readline())["bitcoin_sim"]  # the first line, once it listens
        assert url == f"http://127.0.0.1:{port}/"
        async with BitcoinRPC(url, "u", "p") as rpc:
            assert await rpc.getblockcount() == 0
            hashes = await rpc.call("generatetoaddress", 2, "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080")
            assert await rpc.getblockhash(2) == hashes[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
