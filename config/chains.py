"""Chain nodes the custody watchers follow (``BRAID_CHAINS__<CHAIN>__<KNOB>``)."""

from __future__ import annotations

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


class ChainsSettings(BaseModel):
    btc: BitcoinNodeSettings = Field(default_factory=BitcoinNodeSettings)
    eth: EvmNodeSettings = Field(default_factory=EvmNodeSettings)
    bsc: BscNodeSettings = Field(default_factory=BscNodeSettings)
