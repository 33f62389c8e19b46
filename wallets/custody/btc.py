"""Bitcoin spends: hot P2WPKH signing (BIP-143) and cold 2-of-3 P2WSH PSBTs (BIP-174) with embit.

Amounts are integer satoshis inside; requests carry BTC as exact decimal text. Every cold check is a plain
function (``check_psbt_against``, ``finalize_cold``) so the withdrawal engine calls the same code as the CLI.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from embit import bip32, ec
from embit.finalizer import finalize_psbt
from embit.networks import NETWORKS as EMBIT_NETWORKS
from embit.psbt import PSBT, DerivationPath
from embit.script import Script, Witness, p2pkh_from_p2wpkh, p2wpkh
from embit.transaction import SIGHASH, Transaction, TransactionInput, TransactionOutput
from embit.util import secp256k1

from wallets.custody import hd
from wallets.custody.addresses import validate_address
from wallets.custody.amounts import to_base_units
from wallets.custody.ceremony import HOT_ROLE
from wallets.custody.errors import CustodyError, SpendMismatch
from wallets.custody.keyfile import Sealer, read_key_file, role_of
from wallets.custody.networks import BtcParams, btc_params
from wallets.custody.public import PublicWallets

SAT = Decimal("0.00000001")
MAX_SAT = 21_000_000 * 100_000_000


def native_secp256k1() -> bool:
    """True when embit signs through libsecp256k1 (constant time, RFC 6979), not its pure-Python fallback."""
    return bool(secp256k1.ecdsa_sign.__module__.endswith("ctypes_secp256k1"))


def _require_native() -> None:
    if not native_secp256k1():
        raise CustodyError("embit could not load libsecp256k1 and fell back to pure Python: refusing to sign")


def to_sat(amount: str | Decimal, what: str = "amount") -> int:
    """Exact BTC decimal text -> satoshis; refuses more than 8 decimals, negatives and absurd values."""
    sat = to_base_units(amount, 8, what)
    if sat > MAX_SAT:
        raise CustodyError(f"{what} exceeds 21 million BTC: {amount!r}")
    return sat


def from_sat(sat: int) -> str:
    return format((Decimal(sat) * SAT).quantize(SAT), "f")


# ---- hot wallet: P2WPKH ----


@dataclass(frozen=True, slots=True)
class HotInput:
    """A UTXO of the hot signer's keys: ``wallet`` "hot" or "deposit", key at ``<account>/change/index``."""

    txid: str
    vout: int
    value_sat: int
    wallet: str = "hot"
    change: int = 0
    index: int = 0


@dataclass(frozen=True, slots=True)
class UnsignedBtcTx:
    """A built, unsigned P2WPKH spend: inputs and (address, satoshis) outputs, in order."""

    inputs: tuple[HotInput, ...]
    outputs: tuple[tuple[str, int], ...]
    locktime: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "inputs": [
                {
                    "txid": i.txid,
                    "vout": i.vout,
                    "value_sat": i.value_sat,
                    "wallet": i.wallet,
                    "change": i.change,
                    "index": i.index,
                }
                for i in self.inputs
            ],
            "outputs": [{"address": a, "value_sat": v} for a, v in self.outputs],
            "locktime": self.locktime,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> UnsignedBtcTx:
        return cls(
            tuple(HotInput(**i) for i in doc["inputs"]),
            tuple((o["address"], int(o["value_sat"])) for o in doc["outputs"]),
            int(doc.get("locktime", 0)),
        )


def build_tx(
    inputs: list[tuple[str, int]], outputs: list[tuple[str, int]], params: BtcParams, locktime: int = 0
) -> Transaction:
    """An unsigned version-2 transaction; outputs validated for ``params``'s network."""
    if not inputs or not outputs:
        raise CustodyError("a transaction needs at least one input and one output")
    vout = []
    for address, value in outputs:
        if value <= 0:
            raise CustodyError(f"output to {address} must be positive, was {value} sat")
        vout.append(TransactionOutput(value, Script(validate_address("BTC", address, params).script_pubkey)))
    vin = [TransactionInput(bytes.fromhex(txid), n, sequence=0xFFFFFFFD) for txid, n in inputs]
    return Transaction(version=2, vin=vin, vout=vout, locktime=locktime)


def sign_p2wpkh_input(tx: Transaction, i: int, private_key: bytes, value_sat: int) -> bytes:
    """Sign input ``i`` (a P2WPKH output of ``value_sat``) with SIGHASH_ALL per BIP-143; sets its witness."""
    _require_native()
    prv = ec.PrivateKey(private_key)
    pub = prv.get_public_key()
    script_code = p2pkh_from_p2wpkh(p2wpkh(pub))
    h = tx.sighash_segwit(i, script_code, value_sat, sighash=SIGHASH.ALL)
    sig = prv.sign(h).serialize() + bytes([SIGHASH.ALL])
    tx.vin[i].witness = Witness([sig, pub.sec()])
    return bytes(h)


def sign_hot_btc(unsigned: UnsignedBtcTx, hot_key_file: str | os.PathLike[str], sealer: Sealer) -> bytes:
    """Sign every input of ``unsigned`` with the hot signer's keys; the raw signed transaction."""
    secrets_doc = read_key_file(hot_key_file, HOT_ROLE, sealer)
    params = btc_params(secrets_doc["btc_network"])
    versions = hd.btc_versions(params, bip84=True)
    tx = build_tx([(i.txid, i.vout) for i in unsigned.inputs], list(unsigned.outputs), params, unsigned.locktime)
    accounts: dict[str, hd.HdKey] = {}
    for n, inp in enumerate(unsigned.inputs):
        if inp.wallet not in ("hot", "deposit"):
            raise CustodyError(f"input {n}: wallet must be hot or deposit, was {inp.wallet!r}")
        if inp.wallet not in accounts:
            accounts[inp.wallet] = hd.parse_account_key(secrets_doc["keys"][f"BTC/{inp.wallet}"]["xprv"], versions)
        sign_p2wpkh_input(tx, n, hd.private_key_bytes(accounts[inp.wallet], inp.change, inp.index), inp.value_sat)
    return bytes(tx.serialize())


# ---- cold wallet: 2-of-3 P2WSH PSBT ----


@dataclass(frozen=True, slots=True)
class ColdUtxo:
    """A UTXO of the cold multisig at descriptor branch ``change`` (0 receive, 1 change) and ``index``."""

    txid: str
    vout: int
    value_sat: int
    change: int = 0
    index: int = 0


@dataclass(frozen=True)
class ColdSpendRequest:
    """What the operators approved: pay ``amount`` BTC to ``destination``, the rest less at most ``max_fee``
    back to the cold wallet's change branch at ``change_index`` (``change_amount`` exactly)."""

    destination: str
    amount: str
    change_amount: str = "0"
    change_index: int = 0
    max_fee: str = "0.001"
    btc_network: str = "regtest"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ColdSpendRequest:
        try:
            return cls(
                str(doc["destination"]),
                str(doc["amount"]),
                str(doc.get("change_amount", "0")),
                int(doc.get("change_index", 0)),
                str(doc.get("max_fee", "0.001")),
                str(doc.get("btc_network", "regtest")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CustodyError(f"approved request is incomplete or malformed: {exc}") from exc

    def to_json(self) -> dict[str, Any]:
        return {
            "network": "BTC",
            "btc_network": self.btc_network,
            "destination": self.destination,
            "amount": self.amount,
            "change_amount": self.change_amount,
            "change_index": self.change_index,
            "max_fee": self.max_fee,
        }


def _cold_scope(public: PublicWallets, change: int, index: int) -> Any:
    return public.cold.derive(index, branch_index=change)


def _fill_derivations(scope: Any, derived: Any) -> None:
    for k in derived.keys:
        scope.bip32_derivations[k.get_public_key()] = DerivationPath(k.origin.fingerprint, k.origin.derivation)


def build_cold_psbt(public: PublicWallets, utxos: list[ColdUtxo], request: ColdSpendRequest) -> PSBT:
    """The PSBT paying ``request`` from the cold multisig ``utxos`` (each input carries its witness UTXO,
    witness script and the three cosigners' derivations, so any two cosigners can sign offline)."""
    params = public.btc
    if request.btc_network != public.btc_network:
        raise CustodyError(f"request is for {request.btc_network}, the wallets are on {public.btc_network}")
    amount, change = to_sat(request.amount, "amount"), to_sat(request.change_amount, "change_amount")
    outputs = [(validate_address("BTC", request.destination, params).address, amount)]
    if change:
        outputs.append((public.cold_address(1, request.change_index), change))
    fee = sum(u.value_sat for u in utxos) - amount - change
    if fee < 0:
        raise CustodyError(f"inputs ({from_sat(sum(u.value_sat for u in utxos))} BTC) do not cover the outputs")
    if fee > to_sat(request.max_fee, "max_fee"):
        raise CustodyError(f"fee {from_sat(fee)} BTC is above the approved maximum {request.max_fee}")
    psbt = PSBT(build_tx([(u.txid, u.vout) for u in utxos], outputs, params))
    for scope, u in zip(psbt.inputs, utxos, strict=True):
        derived = _cold_scope(public, u.change, u.index)
        scope.witness_utxo = TransactionOutput(u.value_sat, derived.script_pubkey())
        scope.witness_script = derived.witness_script()
        _fill_derivations(scope, derived)
    if change:
        derived = _cold_scope(public, 1, request.change_index)
        psbt.outputs[1].witness_script = derived.witness_script()
        _fill_derivations(psbt.outputs[1], derived)
    return psbt


def sign_cold_psbt(psbt_text: str, key_file: str | os.PathLike[str], sealer: Sealer) -> tuple[str, int]:
    """Add one cosigner's signatures (run where that key is); (signed PSBT base64, signatures added)."""
    _require_native()
    role = role_of(key_file)
    if not role.startswith("cold-cosigner-"):
        raise CustodyError(f"{key_file} is a {role!r} key file, not a cold cosigner's")
    doc = read_key_file(key_file, role, sealer)
    root = bip32.HDKey.from_string(doc["xprv"])
    psbt = parse_psbt(psbt_text)
    added = psbt.sign_with(root)
    if added == 0:
        raise CustodyError("this cosigner's key is not one of the PSBT's signers: nothing signed")
    return psbt.to_string(), added


def describe_psbt(psbt: PSBT, btc_network: str) -> list[dict[str, str]]:
    """What a PSBT pays, for the signer to read: address (on ``btc_network``) and BTC per output."""
    net = EMBIT_NETWORKS[btc_params(btc_network).embit]
    out = []
    for o in psbt.tx.vout:
        try:
            addr = str(o.script_pubkey.address(net))
        except Exception:  # noqa: BLE001 - a non-standard script has no address
            addr = "script:" + o.script_pubkey.data.hex()
        out.append({"address": addr, "amount": from_sat(o.value)})
    return out


def parse_psbt(text: str) -> PSBT:
    try:
        return PSBT.from_string(text.strip())
    except Exception as exc:
        raise CustodyError(f"not a valid PSBT: {exc}") from exc


def check_psbt_against(psbt: PSBT, request: ColdSpendRequest, public: PublicWallets) -> int:
    """Refuse (``SpendMismatch``) unless the PSBT pays exactly the approved outputs from the cold wallet,
    with a fee within the approved maximum. Returns the fee in satoshis."""
    params = public.btc
    if request.btc_network != public.btc_network:
        raise SpendMismatch(f"approved request is for {request.btc_network}, the wallets are on {public.btc_network}")
    want: list[tuple[bytes, int, str]] = [
        (validate_address("BTC", request.destination, params).script_pubkey, to_sat(request.amount), "destination")
    ]
    change = to_sat(request.change_amount, "change_amount")
    if change:
        addr = public.cold_address(1, request.change_index)
        want.append((validate_address("BTC", addr, params).script_pubkey, change, "change"))
    got = [(o.script_pubkey.data, o.value) for o in psbt.tx.vout]
    if len(got) != len(want):
        raise SpendMismatch(f"PSBT has {len(got)} outputs, the approved request has {len(want)}")
    net = EMBIT_NETWORKS[params.embit]
    for script, value, what in want:
        if (script, value) not in got:
            seen = ", ".join(f"{Script(s).address(net)}={from_sat(v)}" for s, v in got)
            raise SpendMismatch(
                f"PSBT does not pay the approved {what} ({from_sat(value)} BTC to "
                f"{Script(script).address(net)}); its outputs are: {seen}"
            )
    for i, scope in enumerate(psbt.inputs):
        if scope.witness_utxo is None or scope.witness_script is None:
            raise SpendMismatch(f"PSBT input {i} lacks its witness UTXO or witness script")
        if not public.cold.owns(scope):
            raise SpendMismatch(f"PSBT input {i} does not spend from the cold wallet")
    fee = psbt.fee()
    if fee > to_sat(request.max_fee, "max_fee"):
        raise SpendMismatch(f"PSBT fee {from_sat(fee)} BTC is above the approved maximum {request.max_fee}")
    return int(fee)


def combine_psbts(texts: list[str]) -> PSBT:
    """Merge the cosigners' partial signatures into one PSBT; all must be the same unsigned transaction."""
    if not texts:
        raise CustodyError("no PSBT given")
    psbts = [parse_psbt(t) for t in texts]
    base = psbts[0]
    txid = base.tx.txid()
    for n, other in enumerate(psbts[1:], start=2):
        if other.tx.txid() != txid:
            raise SpendMismatch(f"PSBT #{n} is a different transaction than PSBT #1 (outputs or inputs differ)")
        for mine, theirs in zip(base.inputs, other.inputs, strict=True):
            mine.partial_sigs.update(theirs.partial_sigs)
    return base


def _verify_signatures(psbt: PSBT) -> None:
    for i, scope in enumerate(psbt.inputs):
        h = psbt.sighash(i, sighash=SIGHASH.ALL)
        for pub, sig in scope.partial_sigs.items():
            if sig[-1] != SIGHASH.ALL or not pub.verify(ec.Signature.parse(sig[:-1]), h):
                raise SpendMismatch(f"PSBT input {i} carries a signature that does not sign this transaction")


def finalize_cold(texts: list[str], request: ColdSpendRequest, public: PublicWallets) -> Transaction:
    """Combine the cosigners' PSBTs, check them against the approved request and every signature, and
    return the final transaction. Refuses (nothing produced) on any mismatch or fewer than 2 signatures."""
    psbt = combine_psbts(texts)
    check_psbt_against(psbt, request, public)
    _verify_signatures(psbt)
    for i, scope in enumerate(psbt.inputs):
        if len(scope.partial_sigs) < 2:
            raise CustodyError(f"input {i} has {len(scope.partial_sigs)} of the 2 signatures the cold wallet needs")
    tx = finalize_psbt(psbt)
    if tx is None:
        raise CustodyError("PSBT could not be finalised")
    return tx
