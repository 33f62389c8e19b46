"""Chain nodes the custody watchers follow (``BRAID_CHAINS__<CHAIN>__<KNOB>``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr


class ChainNodeSettings(BaseModel):
    """What every watched chain has."""

    rpc_url: str = ""
    # First block a fresh watcher reads (later starts resume from the stored tip).
    start_height: int = Field(default=0, ge=0)
    poll_interval_s: float = Field(default=2.0, gt=0)
    # Observations are reported with their confirmations on each new block until they are this deep.
    confirmations_window: int = Field(default=64, ge=1)
    # Most blocks fetched in one step (one eth_getLogs range on EVM chains).
    batch_blocks: int = Field(default=50, ge=1)
    rpc_timeout_s: float = Field(default=30.0, gt=0)


class BitcoinNodeSettings(ChainNodeSettings):
    rpc_url: str = "http://127.0.0.1:18443/"  # bitcoind -regtest's default RPC port
    rpc_user: str = ""
    rpc_password: SecretStr = SecretStr("")
    poll_interval_s: float = Field(default=5.0, gt=0)
    # getblock verbosity: 3 (Bitcoin Core 23+) carries the inputs' prevouts, so deposits know their source
    # addresses; 2 for older nodes.
    block_verbosity: Literal[2, 3] = 3
    # Report deposits still in the node's mempool as pending (deposit history status 0, 0 confirmations).
    watch_mempool: bool = True


class EvmNodeSettings(ChainNodeSettings):
    rpc_url: str = "http://127.0.0.1:8545"
    # The node must report this chain id (None: not checked).
    chain_id: int | None = 1
    native_asset: str = "ETH"
    # Token contracts watched for Transfer logs: asset symbol -> contract address.
    tokens: dict[str, str] = Field(default_factory=dict)


class BscNodeSettings(EvmNodeSettings):
    chain_id: int | None = 56
    native_asset: str = "BNB"
    poll_interval_s: float = Field(default=1.0, gt=0)


class DevChainsSettings(BaseModel):
    """Local dev chains ``braid serve`` starts in development (``BRAID_CHAINS__DEV__<KNOB>``): the Bitcoin
    regtest simulator in-process (Bitcoin Core is not installable here) and one anvil per EVM network."""

    # Off: serve watches the nodes at BRAID_CHAINS__<CHAIN>__RPC_URL instead (real bitcoind, geth, ...).
    enabled: bool = True
    # Seconds between blocks while there is something to confirm (each chain then rests after 100 idle blocks).
    block_time_s: int = Field(default=1, ge=1)
    # Loopback ports (0: the OS picks; the URLs are written to <data_dir>/devchains/devchains.json).
    btc_port: int = Field(default=0, ge=0, le=65535)
    eth_port: int = Field(default=0, ge=0, le=65535)
    bsc_port: int = Field(default=0, ge=0, le=65535)
    # On a fresh dev chain the hot wallet is funded with this much of each coin (so withdrawals can be paid).
    hot_funding: dict[str, str] = Field(
        default_factory=lambda: {"BTC": "20", "ETH": "100", "BNB": "100", "USDT": "100000"}
    )


class ChainsSettings(BaseModel):
    # `braid serve` runs the deposit watchers and the withdrawal loop when custody keys exist (`braid wallet
    # init`; created by serve itself on dev chains).
    watch: bool = True
    # The networks followed (and, on dev chains, started).
    networks: list[Literal["BTC", "ETH", "BSC"]] = Field(default_factory=lambda: ["BTC", "ETH", "BSC"])  # type: ignore[arg-type]
    # Seconds between withdrawal processing rounds (sign, broadcast, confirm).
    withdrawals_interval_s: float = Field(default=2.0, gt=0)
    # Seconds between sweeps of deposits (at least unlock_confirmations deep) into the hot wallet; 0: no sweeps.
    sweep_interval_s: float = Field(default=30.0, ge=0)
    dev: DevChainsSettings = Field(default_factory=DevChainsSettings)
    btc: BitcoinNodeSettings = Field(default_factory=BitcoinNodeSettings)
    eth: EvmNodeSettings = Field(default_factory=EvmNodeSettings)
    bsc: BscNodeSettings = Field(default_factory=BscNodeSettings)
