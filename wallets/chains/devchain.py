"""Local EVM dev chains: ``anvil`` (Foundry) and solc-js, both from the npm registry, installed into the
project-local ``.tools/`` (git-ignored); starting and stopping an anvil node; compiling and deploying
``contracts/BraidTestToken.sol``. ``python -m wallets.chains.devchain install`` is what ``scripts/bootstrap``
runs where npm exists."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess  # nosec B404 # runs fixed local programs only (see the calls)
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ANVIL_VERSION = "1.7.1"
SOLC_VERSION = "0.8.37"
ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = Path(os.environ.get("BRAID_TOOLS_DIR", ROOT / ".tools"))
TOKEN_SOURCE = Path(__file__).resolve().parent / "contracts" / "BraidTestToken.sol"


class ToolsUnavailable(RuntimeError):
    """npm (and so anvil / solc-js) is not on this machine."""


def _anvil_package() -> str:
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())
    if sys.platform != "linux" or arch is None:
        raise ToolsUnavailable(f"no anvil npm package for {sys.platform}/{platform.machine()}")
    return f"@foundry-rs/anvil-linux-{arch}"


def anvil_path(tools_dir: Path = TOOLS_DIR) -> Path:
    return tools_dir / "node_modules" / ".bin" / "anvil"


def solcjs_path(tools_dir: Path = TOOLS_DIR) -> Path:
    return tools_dir / "node_modules" / ".bin" / "solcjs"


def install_tools(tools_dir: Path = TOOLS_DIR) -> None:
    """Install anvil and solc-js with npm into ``tools_dir`` unless they are there already."""
    if anvil_path(tools_dir).exists() and solcjs_path(tools_dir).exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise ToolsUnavailable("npm is not installed (it brings anvil and solc-js from the npm registry)")
    tools_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(  # nosec B603 # fixed argv of a local tool, no shell, no outside input
        [
            npm,
            "install",
            "--prefix",
            str(tools_dir),
            "--no-save",
            "--no-audit",
            "--no-fund",
            f"{_anvil_package()}@{ANVIL_VERSION}",
            f"solc@{SOLC_VERSION}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def compile_token(tools_dir: Path = TOOLS_DIR) -> dict[str, Any]:
    """ABI and bytecode of BraidTestToken, compiled by solc-js; cached by source hash and compiler version."""
    source = TOKEN_SOURCE.read_text()
    digest = hashlib.sha256(f"{SOLC_VERSION}\0{source}".encode()).hexdigest()[:32]
    cache = tools_dir / "solc-cache" / f"BraidTestToken-{digest}.json"
    if cache.exists():
        return json.loads(cache.read_text())  # type: ignore[no-any-return]
    install_tools(tools_dir)
    request = {
        "language": "Solidity",
        "sources": {"BraidTestToken.sol": {"content": source}},
        "settings": {
            "optimizer": {"enabled": True, "runs": 200},
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }
    done = subprocess.run(  # nosec B603 # fixed argv of a local tool, no shell, no outside input
        [str(solcjs_path(tools_dir)), "--standard-json"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    output = json.loads(done.stdout[done.stdout.index("{") :])
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise RuntimeError("solc: " + "; ".join(e["formattedMessage"] for e in errors))
    contract = output["contracts"]["BraidTestToken.sol"]["BraidTestToken"]
    artifact = {"abi": contract["abi"], "bytecode": "0x" + contract["evm"]["bytecode"]["object"]}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(artifact))
    return artifact


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Anvil:
    """One anvil process on a free loopback port; ``url`` once started. Its ten dev accounts are unlocked."""

    def __init__(
        self, chain_id: int = 31337, tools_dir: Path = TOOLS_DIR, *, port: int = 0, extra_args: Sequence[str] = ()
    ) -> None:
        """``port`` 0: a free one; ``extra_args`` e.g. ``--block-time 1 --state FILE`` (``braid serve``'s dev
        chains mine on an interval and keep their blocks across restarts)."""
        self.chain_id = chain_id
        self.tools_dir = tools_dir
        self.port = port
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout_s: float = 30.0) -> str:
        install_tools(self.tools_dir)
        port = self.port or _free_port()
        self.proc = subprocess.Popen(  # nosec B603 # fixed argv of a local tool, no shell, no outside input
            [
                str(anvil_path(self.tools_dir)),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--chain-id",
                str(self.chain_id),
                "--silent",
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout_s
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
        while True:
            try:
                req = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=2) as resp:  # nosec B310 # fixed http://127.0.0.1 URL of the local dev chain
                    if int(json.load(resp)["result"], 16) == self.chain_id:
                        return self.url
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"anvil did not start on {self.url}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


async def deploy_token(
    w3: Any, sender: str, name: str = "Tether USD (Braid test)", symbol: str = "USDT", supply: int = 10**15
) -> Any:
    """Deploy BraidTestToken from an unlocked account of a dev node; returns the web3 contract."""
    artifact = await asyncio.to_thread(compile_token)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx_hash = await factory.constructor(name, symbol, supply).transact({"from": sender})
    receipt = await w3.eth.wait_for_transaction_receipt(tx_hash)
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])


if __name__ == "__main__":
    if sys.argv[1:] == ["install"]:
        try:
            install_tools()
            compile_token()
        except ToolsUnavailable as exc:
            print(f"skipping the local EVM dev chain: {exc}", file=sys.stderr)
    else:
        print("usage: python -m wallets.chains.devchain install", file=sys.stderr)
        sys.exit(2)
