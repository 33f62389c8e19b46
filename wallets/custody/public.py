"""The public wallet file: everything the API process may know (extended public keys, the cold descriptor).

Written by ``braid wallet init`` into ``<custody dir>/api/custody-public.json``; holds no private key.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from embit.descriptor import Descriptor

from wallets.custody import hd
from wallets.custody.errors import CustodyError
from wallets.custody.networks import (
    EVM_NETWORKS,
    NETWORKS,
    BtcParams,
    Network,
    btc_params,
)

FORMAT = "braid-custody-public"
FILE_NAME = "custody-public.json"


@dataclass(frozen=True)
class PublicWallets:
    """Extended public keys per network and role, the cold multisig descriptor and the cold EVM address."""

    btc_network: str
    deposit: dict[str, dict[str, str]]  # network -> {"xpub", "path"}
    hot: dict[str, dict[str, str]]  # network -> {"xpub", "path"} (+ "address" for EVM)
    cold_descriptor: str  # wsh(sortedmulti(2, ...)) with <0;1>/* branches: receive 0, change 1
    cold_evm_address: str | None = None
    created: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def btc(self) -> BtcParams:
        return btc_params(self.btc_network)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": 1,
            "btc_network": self.btc_network,
            "deposit": self.deposit,
            "hot": self.hot,
            "cold": {
                "BTC": {"descriptor": self.cold_descriptor, "threshold": 2, "cosigners": 3},
                "EVM": {"address": self.cold_evm_address},
            },
            "created": self.created,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> PublicWallets:
        if doc.get("format") != FORMAT:
            raise CustodyError("not a Braid custody public file")
        for role in ("deposit", "hot"):
            missing = [n for n in NETWORKS if n not in doc.get(role, {})]
            if missing:
                raise CustodyError(f"custody public file has no {role} key for {', '.join(missing)}")
        cold = doc.get("cold", {})
        out = cls(
            doc["btc_network"],
            doc["deposit"],
            doc["hot"],
            cold["BTC"]["descriptor"],
            cold.get("EVM", {}).get("address"),
            int(doc.get("created", 0)),
        )
        out.check_public_only()
        return out

    def check_public_only(self) -> None:
        """Refuse a public file that carries any private key (the API process must never hold one)."""
        for role, keys in (("deposit", self._deposit_keys), ("hot", self._hot_keys)):
            for net, key in keys.items():
                if not key.IsPublicOnly():
                    raise CustodyError(f"custody public file holds a PRIVATE {role} key for {net}: refused")
        if any(getattr(k, "is_private", False) for k in self.cold.keys):
            raise CustodyError("custody public file's cold descriptor holds a PRIVATE key: refused")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PublicWallets:
        p = Path(path)
        if p.is_dir():
            p = p / FILE_NAME
        try:
            return cls.from_json(json.loads(p.read_text()))
        except FileNotFoundError:
            raise CustodyError(f"no custody public file at {p}: run `braid wallet init` first") from None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    # ---- derivation (public keys only) ----

    def _versions(self, network: Network) -> Any:
        return hd.btc_versions(self.btc, bip84=True) if network == "BTC" else hd.EVM_VERSIONS

    @cached_property
    def _deposit_keys(self) -> dict[str, hd.HdKey]:
        return {n: hd.parse_account_key(self.deposit[n]["xpub"], self._versions(n)) for n in NETWORKS}

    @cached_property
    def _hot_keys(self) -> dict[str, hd.HdKey]:
        return {n: hd.parse_account_key(self.hot[n]["xpub"], self._versions(n)) for n in NETWORKS}

    @cached_property
    def _deposit_chains(self) -> dict[str, hd.HdKey]:
        # the external chain <account>/0 once, so each new address costs one public derivation
        return {n: k.ChildKey(0) for n, k in self._deposit_keys.items()}

    def deposit_address(self, network: Network, index: int) -> str:
        """The deposit address at external-chain ``index`` (``<account>/0/index``)."""
        if not 0 <= index < 2**31:
            raise CustodyError(f"derivation index {index} is out of range")
        child = self._deposit_chains[network].ChildKey(index)
        if network == "BTC":
            return hd.p2wpkh_address(child, self.btc)
        return hd.eth_address(child)

    def deposit_path(self, network: Network, index: int) -> str:
        return f"{self.deposit[network]['path']}/0/{index}"

    def hot_address(self, network: Network, change: int = 0, index: int = 0) -> str:
        """A hot-wallet address (EVM hot wallets use ``/0/0`` only)."""
        return self._address(self._hot_keys[network], network, change, index)

    def _address(self, key: hd.HdKey, network: Network, change: int, index: int) -> str:
        if not 0 <= index < 2**31:
            raise CustodyError(f"derivation index {index} is out of range")
        if network == "BTC":
            return hd.btc_address(key, self.btc, change, index)
        return hd.evm_address(key, change, index)

    @cached_property
    def cold(self) -> Descriptor:
        return Descriptor.from_string(self.cold_descriptor)

    def cold_address(self, change: int, index: int) -> str:
        """The cold 2-of-3 P2WSH address at branch ``change`` (0 receive, 1 change) and ``index``."""
        from embit.networks import NETWORKS as EMBIT_NETWORKS

        return str(self.cold.derive(index, branch_index=change).address(EMBIT_NETWORKS[self.btc.embit]))


__all__ = ["EVM_NETWORKS", "FILE_NAME", "PublicWallets"]
