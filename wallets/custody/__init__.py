"""Custody keys: the key ceremony, deposit addresses from public keys only, withdrawal address checks, and
signing (hot P2WPKH and EVM; cold 2-of-3 PSBTs and offline EVM) with the checks run before any broadcast.

Public face: ``run_ceremony``, ``PublicWallets``, ``CustodyAddresses``/``DepositAddress``,
``validate_address``, ``Sealer`` and key files, the BTC (``sign_hot_btc``, ``build_cold_psbt``,
``sign_cold_psbt``, ``finalize_cold``, ``check_psbt_against``) and EVM (``sign_hot_evm``, ``sign_cold_evm``,
``verify_signed_evm``) signing APIs, and the errors.
"""

from wallets.custody.addresses import ValidAddress, validate_address
from wallets.custody.btc import (
    ColdSpendRequest,
    ColdUtxo,
    HotInput,
    UnsignedBtcTx,
    build_cold_psbt,
    check_psbt_against,
    finalize_cold,
    sign_cold_psbt,
    sign_hot_btc,
)
from wallets.custody.ceremony import CeremonyResult, run_ceremony
from wallets.custody.deposits import CustodyAddresses, DepositAddress
from wallets.custody.errors import (
    CustodyError,
    InvalidAddress,
    KeyFileError,
    SpendMismatch,
)
from wallets.custody.evm import (
    EvmSpendRequest,
    decode_signed_evm,
    sign_cold_evm,
    sign_hot_evm,
    unsigned_tx,
    verify_signed_evm,
)
from wallets.custody.keyfile import Sealer
from wallets.custody.models import create_tables
from wallets.custody.public import PublicWallets

__all__ = [
    "CeremonyResult",
    "ColdSpendRequest",
    "ColdUtxo",
    "CustodyAddresses",
    "CustodyError",
    "DepositAddress",
    "EvmSpendRequest",
    "HotInput",
    "InvalidAddress",
    "KeyFileError",
    "PublicWallets",
    "Sealer",
    "SpendMismatch",
    "UnsignedBtcTx",
    "ValidAddress",
    "build_cold_psbt",
    "check_psbt_against",
    "create_tables",
    "decode_signed_evm",
    "finalize_cold",
    "run_ceremony",
    "sign_cold_evm",
    "sign_cold_psbt",
    "sign_hot_btc",
    "sign_hot_evm",
    "unsigned_tx",
    "validate_address",
    "verify_signed_evm",
]
