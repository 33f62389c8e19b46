"""EVM transactions (ETH, BSC): hot signing, cold offline signing, and verification before broadcast.

An unsigned transaction is a JSON object with chainId, nonce, to, value (wei, as a decimal string or int),
data, gas and either maxFeePerGas + maxPriorityFeePerGas (EIP-1559, type 2) or gasPrice (legacy, EIP-155).
``verify_signed_evm`` decodes a signed raw transaction, recovers its sender and refuses it unless the
destination, amount, token transfer and chain id are exactly the approved request's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import rlp
from eth_account import Account
from eth_account._utils.legacy_transactions import Transaction as LegacyTransaction
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from hexbytes import HexBytes

from wallets.custody import hd
from wallets.custody.addresses import evm_checksum_address
from wallets.custody.amounts import to_base_units
from wallets.custody.ceremony import COLD_EVM_ROLE, HOT_ROLE
from wallets.custody.errors import CustodyError, InvalidAddress, SpendMismatch
from wallets.custody.keyfile import Sealer, read_key_file
from wallets.custody.networks import Network, network_name

TRANSFER_SELECTOR = bytes.fromhex("a9059cbb")  # keccak("transfer(address,uint256)")[:4]
_INT_FIELDS = ("chainId", "nonce", "gas", "value", "maxFeePerGas", "maxPriorityFeePerGas", "gasPrice")


def transfer_data(to: str, amount_units: int) -> bytes:
    """ABI call data of ERC-20/BEP-20 ``transfer(to, amount)``."""
    return (
        TRANSFER_SELECTOR + bytes(12) + bytes.fromhex(evm_checksum_address(to)[2:]) + amount_units.to_bytes(32, "big")
    )


def unsigned_tx(
    *,
    chain_id: int,
    nonce: int,
    to: str,
    value_wei: int = 0,
    data: bytes = b"",
    gas: int,
    max_fee_per_gas: int | None = None,
    max_priority_fee_per_gas: int | None = None,
    gas_price: int | None = None,
) -> dict[str, Any]:
    """A JSON-ready unsigned transaction: EIP-1559 when fee caps are given, else legacy with ``gas_price``."""
    tx: dict[str, Any] = {
        "chainId": chain_id,
        "nonce": nonce,
        "to": evm_checksum_address(to),
        "value": str(value_wei),
        "data": "0x" + data.hex(),
        "gas": gas,
    }
    if max_fee_per_gas is not None:
        tx["type"] = 2
        tx["maxFeePerGas"] = str(max_fee_per_gas)
        tx["maxPriorityFeePerGas"] = str(max_priority_fee_per_gas if max_priority_fee_per_gas is not None else 0)
    elif gas_price is not None:
        tx["gasPrice"] = str(gas_price)
    else:
        raise CustodyError("give maxFeePerGas (EIP-1559) or gasPrice (legacy)")
    return tx


def _for_signing(tx: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: int(v) for k, v in tx.items() if k in _INT_FIELDS}
    out["to"] = evm_checksum_address(str(tx["to"]))
    out["data"] = str(tx.get("data") or "0x")
    if "maxFeePerGas" in out:
        out["type"] = 2
    if out.get("chainId", 0) <= 0:
        raise CustodyError("unsigned transaction has no chain id (EIP-155 replay protection is required)")
    return out


def sign_evm(tx: dict[str, Any], private_key: bytes) -> bytes:
    """The raw signed transaction (RFC 6979 deterministic signature through eth-account)."""
    return bytes(Account.sign_transaction(_for_signing(tx), private_key).raw_transaction)


def sign_hot_evm(
    tx: dict[str, Any],
    network: str,
    hot_key_file: str | os.PathLike[str],
    sealer: Sealer,
    *,
    wallet: str = "hot",
    index: int = 0,
) -> bytes:
    """Sign with the hot signer's key: the ``network`` hot wallet (``/0/0``) or a deposit address (sweeps)."""
    net = network_name(network)
    if net == "BTC":
        raise CustodyError("sign_hot_evm signs ETH or BSC transactions")
    doc = read_key_file(hot_key_file, HOT_ROLE, sealer)
    account = hd.parse_account_key(doc["keys"][f"{net}/{wallet}"]["xprv"], hd.EVM_VERSIONS)
    return sign_evm(tx, hd.private_key_bytes(account, 0, index))


def sign_cold_evm(tx: dict[str, Any], key_file: str | os.PathLike[str], sealer: Sealer) -> bytes:
    """Sign offline with the cold EVM key (run where the key is)."""
    doc = read_key_file(key_file, COLD_EVM_ROLE, sealer)
    return sign_evm(tx, bytes.fromhex(doc["private_key"]))


@dataclass(frozen=True, slots=True)
class DecodedEvmTx:
    sender: str
    chain_id: int
    nonce: int
    to: str
    value: int
    data: bytes
    gas: int
    type: int


def decode_signed_evm(raw: bytes) -> DecodedEvmTx:
    """Decode a signed raw transaction (legacy or typed) and recover its sender."""
    try:
        if raw and raw[0] < 0x7F:
            d = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
            chain_id, kind = int(d["chainId"]), int(d.get("type", raw[0]))
        else:
            d = rlp.decode(raw, LegacyTransaction).as_dict()
            v = int(d["v"])
            if v in (27, 28):
                raise CustodyError("legacy transaction without EIP-155 chain id: refused (replayable on any chain)")
            chain_id, kind = (v - 35) // 2, 0
        sender = Account.recover_transaction(raw)
    except CustodyError:
        raise
    except Exception as exc:
        raise CustodyError(f"not a valid signed EVM transaction: {exc}") from exc
    to = bytes(d["to"])
    if len(to) != 20:
        raise CustodyError("signed transaction creates a contract (no destination): refused")
    return DecodedEvmTx(
        evm_checksum_address(sender),
        chain_id,
        int(d["nonce"]),
        evm_checksum_address("0x" + to.hex()),
        int(d["value"]),
        bytes(d["data"]),
        int(d["gas"]),
        kind,
    )


@dataclass(frozen=True)
class EvmSpendRequest:
    """The approved withdrawal: ``amount`` of ``asset`` to ``destination`` on ``network`` (chain ``chain_id``);
    ``token`` is the ERC-20/BEP-20 contract (None for the native coin); ``sender`` the paying address."""

    network: Network
    chain_id: int
    destination: str
    amount: str
    decimals: int = 18
    token: str | None = None
    sender: str | None = None

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> EvmSpendRequest:
        try:
            return cls(
                network_name(str(doc["network"])),
                int(doc["chain_id"]),
                str(doc["destination"]),
                str(doc["amount"]),
                int(doc.get("decimals", 18)),
                doc.get("token"),
                doc.get("sender"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CustodyError(f"approved request is incomplete or malformed: {exc}") from exc


def verify_signed_evm(raw: bytes, request: EvmSpendRequest) -> DecodedEvmTx:
    """Refuse (``SpendMismatch``) unless ``raw`` does exactly what was approved; the decoded transaction."""
    tx = decode_signed_evm(raw)
    if tx.chain_id != request.chain_id:
        raise SpendMismatch(
            f"signed transaction is for chain id {tx.chain_id}, approved {request.chain_id} ({request.network})"
        )
    try:
        dest = evm_checksum_address(request.destination, request.network)
    except InvalidAddress as exc:
        raise SpendMismatch(f"approved destination is invalid: {exc}") from exc
    units = to_base_units(request.amount, request.decimals)
    if request.sender is not None and tx.sender != evm_checksum_address(request.sender):
        raise SpendMismatch(f"signed by {tx.sender}, approved sender is {request.sender}")
    if request.token is None:
        if tx.to != dest:
            raise SpendMismatch(f"signed transaction pays {tx.to}, approved destination is {dest}")
        if tx.value != units:
            raise SpendMismatch(f"signed transaction sends {tx.value} wei, approved {units} ({request.amount})")
        if tx.data:
            raise SpendMismatch("signed transaction carries call data; the approved native transfer has none")
    else:
        token = evm_checksum_address(request.token)
        if tx.to != token:
            raise SpendMismatch(f"signed transaction calls {tx.to}, approved token contract is {token}")
        if tx.value != 0:
            raise SpendMismatch(f"signed token transfer also sends {tx.value} wei of the native coin")
        if tx.data != transfer_data(dest, units):
            raise SpendMismatch(f"signed token transfer's data is not transfer({dest}, {units}) as approved")
    return tx
