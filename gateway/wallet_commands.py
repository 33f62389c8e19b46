"""`braid wallet ...`: the key ceremony, deposit addresses, address checks, and the offline signer commands.

Key files are opened with the passphrase in the environment variable named by
``BRAID_CUSTODY__PASSPHRASE_ENV`` (default ``BRAID_WALLET_PASSPHRASE``), or with the master key if it is
unset. Refusals print ``braid: <reason>`` on stderr, exit with status 2 and write no output file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config.custody import custody_dir
from config.settings import Settings
from gateway.accounts_commands import emit_json
from wallets import Wallets
from wallets.custody import (
    ColdSpendRequest,
    ColdUtxo,
    CustodyAddresses,
    CustodyError,
    EvmSpendRequest,
    PublicWallets,
    Sealer,
    build_cold_psbt,
    check_psbt_against,
    finalize_cold,
    run_ceremony,
    sign_cold_evm,
    sign_cold_psbt,
    unsigned_tx,
    validate_address,
    verify_signed_evm,
)
from wallets.custody.amounts import to_base_units
from wallets.custody.btc import describe_psbt, parse_psbt
from wallets.custody.ceremony import describe
from wallets.custody.evm import transfer_data
from wallets.custody.keyfile import write_private
from wallets.custody.networks import btc_params
from wallets.custody.reserves import Reserve, liabilities, on_chain, reserves
from wallets.custody.withdrawals import Withdrawal, Withdrawals
from wallets.keys import load_master_key
from wallets.models import canon

if TYPE_CHECKING:
    from compliance import AuditLog


def sealer_from(settings: Settings) -> Sealer:
    """Passphrase from the configured environment variable, else the master key."""
    phrase = os.environ.get(settings.custody.passphrase_env, "")
    if phrase:
        return Sealer(passphrase=phrase)
    secret = settings.master_key.get_secret_value() if settings.master_key else None
    return Sealer(master_key=load_master_key(secret, settings.master_key_file))


def _read_json(path: str) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise CustodyError(f"cannot read {path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise CustodyError(f"{path} does not hold a JSON object")
    return doc


def _write_out(path: str, text: str) -> None:
    p = Path(path)
    if p.exists():
        raise CustodyError(f"{p} exists: choose another --out")
    write_private(p, text)


def _guard(body: Callable[[argparse.Namespace, Settings], None]) -> Callable[[argparse.Namespace, Settings], int]:
    def run(args: argparse.Namespace, settings: Settings) -> int:
        try:
            body(args, settings)
        except (CustodyError, ValueError) as exc:
            print(f"braid: {exc}", file=sys.stderr)
            return 2
        return 0

    return run


def _public(settings: Settings, path: str | None) -> PublicWallets:
    return PublicWallets.load(path or custody_dir(settings.custody, settings.data_dir) / "api")


def init(args: argparse.Namespace, settings: Settings) -> None:
    out = Path(args.dir) if args.dir else custody_dir(settings.custody, settings.data_dir)
    if args.dev:
        print(
            "WARNING: --dev generates the COLD keys on this machine. Use it only for the offline demo and "
            "tests; real cold keys are created offline and only their xpubs imported (--cold-xpub x3).",
            file=sys.stderr,
        )
    result = run_ceremony(
        out,
        btc_network=args.btc_network or settings.custody.btc_network,
        sealer=sealer_from(settings),
        cold_xpubs=args.cold_xpub or None,
        cold_evm_address=args.cold_evm_address,
        dev=args.dev,
        cold_dir=Path(args.cold_dir) if args.cold_dir else None,
    )
    print(describe(result))
    if args.show_mnemonic:
        print("Hot/deposit seed words (write them down offline, then clear this screen):", file=sys.stderr)
        print(result.mnemonic, file=sys.stderr)


def address(args: argparse.Namespace, settings: Settings) -> None:
    addrs = CustodyAddresses.open(
        settings.database_url, _public(settings, args.public), schema=settings.database_schema
    )
    try:
        d = addrs.deposit_address(args.account, args.network)
    finally:
        addrs.close()
    print(
        json.dumps(
            {
                "account": d.account_id,
                "network": d.network,
                "address": d.address,
                "index": d.derivation_index,
                "path": d.path,
            }
        )
    )


def validate(args: argparse.Namespace, settings: Settings) -> None:
    v = validate_address(args.network, args.address, btc_params(settings.custody.btc_network))
    print(json.dumps({"network": v.network, "address": v.address, "kind": v.kind}))


def cold_psbt(args: argparse.Namespace, settings: Settings) -> None:
    request = ColdSpendRequest.from_json(_read_json(args.approved))
    utxos = []
    for text in args.utxo:
        try:
            txid, vout, amount, branch, index = text.split(":")
            utxos.append(ColdUtxo(txid, int(vout), int(amount), int(branch), int(index)))
        except ValueError:
            raise CustodyError(f"--utxo must be TXID:VOUT:SATOSHIS:BRANCH:INDEX, was {text!r}") from None
    psbt = build_cold_psbt(_public(settings, args.public), utxos, request)
    _write_out(args.out, psbt.to_string() + "\n")
    print(json.dumps({"psbt": args.out, "fee_sat": psbt.fee()}))


def sign(args: argparse.Namespace, settings: Settings) -> None:
    text = Path(args.psbt).read_text()
    if args.approved:  # verify the spend before the key is used (CCSS 1.4.6)
        check_psbt_against(
            parse_psbt(text), ColdSpendRequest.from_json(_read_json(args.approved)), _public(settings, args.public)
        )
    signed, added = sign_cold_psbt(text, args.key, sealer_from(settings))
    _write_out(args.out, signed + "\n")
    print(
        json.dumps(
            {
                "psbt": args.out,
                "signatures_added": added,
                "pays": describe_psbt(parse_psbt(signed), settings.custody.btc_network),
            }
        )
    )


def finalize(args: argparse.Namespace, settings: Settings) -> None:
    request = ColdSpendRequest.from_json(_read_json(args.approved))
    tx = finalize_cold([Path(p).read_text() for p in args.psbt], request, _public(settings, args.public))
    raw = tx.serialize().hex()
    if args.out:
        _write_out(args.out, raw + "\n")
    print(json.dumps({"txid": tx.txid().hex(), "raw": raw}))


def evm_unsigned(args: argparse.Namespace, settings: Settings) -> None:
    chain_id = args.chain_id or (
        settings.custody.eth_chain_id if args.network.upper() == "ETH" else settings.custody.bsc_chain_id
    )
    units = to_base_units(args.amount, args.decimals)
    if args.token:
        tx = unsigned_tx(
            chain_id=chain_id,
            nonce=args.nonce,
            to=args.token,
            data=transfer_data(args.to, units),
            gas=args.gas,
            max_fee_per_gas=args.max_fee,
            max_priority_fee_per_gas=args.priority_fee,
            gas_price=args.gas_price,
        )
    else:
        tx = unsigned_tx(
            chain_id=chain_id,
            nonce=args.nonce,
            to=args.to,
            value_wei=units,
            gas=args.gas,
            max_fee_per_gas=args.max_fee,
            max_priority_fee_per_gas=args.priority_fee,
            gas_price=args.gas_price,
        )
    _write_out(args.out, json.dumps(tx, indent=2) + "\n")
    print(json.dumps({"unsigned": args.out, **tx}))


def sign_evm(args: argparse.Namespace, settings: Settings) -> None:
    raw = sign_cold_evm(_read_json(args.unsigned), args.key, sealer_from(settings))
    _write_out(args.out, "0x" + raw.hex() + "\n")
    print(json.dumps({"signed": args.out}))


def verify_evm(args: argparse.Namespace, settings: Settings) -> None:
    text = Path(args.signed).read_text().strip() if Path(args.signed).exists() else args.signed.strip()
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise CustodyError("--signed must be a file or hex of the signed transaction") from None
    tx = verify_signed_evm(raw, EvmSpendRequest.from_json(_read_json(args.approved)))
    print(json.dumps({"ok": True, "sender": tx.sender, "to": tx.to, "chain_id": tx.chain_id, "nonce": tx.nonce}))


def _flow(settings: Settings, body: Callable[[Withdrawals, Wallets, AuditLog], Awaitable[None]]) -> None:
    """Open the wallets and the withdrawal state machine (no chain clients: operator actions only). Operators act
    through their roles (``compliance.operators.authorize``); each action goes into the audit log."""

    from compliance import BackOffice  # here: compliance pulls in scikit-learn, the other commands need none of it
    from gateway.custody_compliance import CustodyCompliance

    async def go() -> None:
        w = Wallets.from_settings(settings)
        backoffice = BackOffice.from_settings(settings)
        try:
            await w.start()
            checks = CustodyCompliance(operators=backoffice.operators, audit=backoffice.audit)
            wd = Withdrawals(
                w.store,
                w.ledger,
                settings.custody.flow,
                btc=btc_params(settings.custody.btc_network),
                authorize=checks.authorize,
            )
            await body(wd, w, backoffice.audit)
        finally:
            await w.close()
            backoffice.close()

    asyncio.run(go())


def _withdrawal_line(w: Withdrawal) -> dict[str, object]:
    row = w.row()
    row.pop("raw_tx")
    return {k: (str(canon(v)) if isinstance(v, Decimal) else v) for k, v in row.items()}


def withdrawals_list(args: argparse.Namespace, settings: Settings) -> None:
    async def body(wd: Withdrawals, w: Wallets, audit: AuditLog) -> None:
        for row in await wd.query(status=args.status, account_id=args.account, limit=args.limit):
            out = _withdrawal_line(row)
            out["approvals"] = await wd.approvals(row.id)
            emit_json(sys.stdout, out)

    _flow(settings, body)


def withdrawals_act(args: argparse.Namespace, settings: Settings) -> None:
    async def body(wd: Withdrawals, w: Wallets, audit: AuditLog) -> None:
        if args.action in ("approve", "reject"):
            if args.action == "approve":
                done = await wd.approve(args.id, args.operator)
            else:
                done = await wd.reject(args.id, args.operator, args.reason or "")
            audit.record(
                args.operator, "local", f"withdrawal.{args.action}", f"withdrawal:{done.id}", {"status": done.status}
            )
            emit_json(sys.stdout, _withdrawal_line(done))
        elif args.action == "freeze":
            await wd.freeze(args.scope, args.operator, args.reason or "")
            audit.record(args.operator, "local", "withdrawal.freeze", args.scope, {"reason": args.reason or ""})
            emit_json(sys.stdout, {"frozen": await wd.freezes()})
        else:
            found = await wd.unfreeze(args.scope, args.operator)
            audit.record(args.operator, "local", "withdrawal.unfreeze", args.scope, {"found": found})
            emit_json(sys.stdout, {"unfrozen": found, "frozen": await wd.freezes()})

    _flow(settings, body)


async def _holdings_from_nodes(settings: Settings, cold_gap: int) -> dict[str, dict[str, Decimal]]:
    """What the nodes say custody holds (the dev chains' nodes when ``braid serve`` runs them)."""
    from gateway.custody_runtime import chain_nodes, running_chain_settings
    from wallets.chains.nodes import BitcoinNode, EvmNode

    settings = running_chain_settings(settings)
    public = _public(settings, None)
    addrs = CustodyAddresses.open(settings.database_url, public, schema=settings.database_schema)
    nodes = chain_nodes(settings)
    try:
        btc = nodes.get("BTC")
        return await on_chain(
            settings.custody.flow.coins,
            public,
            {n: addrs.all_addresses(n) for n in settings.chains.networks},
            btc if isinstance(btc, BitcoinNode) else None,
            {n: node for n, node in nodes.items() if isinstance(node, EvmNode)},
            cold_gap=cold_gap,
        )
    finally:
        addrs.close()
        for node in nodes.values():
            await node.close()


def whitelist_cmd(args: argparse.Namespace, settings: Settings) -> None:
    """Add a withdrawal address to an account's whitelist (usable after the cooling-off period)."""

    from compliance import BackOffice, SecondFactorError
    from gateway.operators_commands import cli_actor  # here: it pulls in compliance

    # the account's own second factor, when it has one on: a whitelist change is a withdrawal's first step
    bo = BackOffice.from_settings(settings)
    try:
        bo.factors.require_second_factor(args.account, args.totp)
    except SecondFactorError as exc:
        details = {"network": args.network, "address": args.address, "reason": str(exc)}
        bo.audit.record(cli_actor(), "local", "whitelist.refused_2fa", f"account:{args.account}", details)
        raise ValueError(f"whitelist change refused: {exc}") from None
    finally:
        bo.close()

    async def body(wd: Withdrawals, w: Wallets, audit: AuditLog) -> None:
        usable = await wd.whitelist(args.account, args.network, args.address)
        details = {"network": args.network, "address": args.address, "usableMs": usable}
        audit.record(cli_actor(), "local", "whitelist.add", f"account:{args.account}", details)
        emit_json(
            sys.stdout, {"account": args.account, "network": args.network, "address": args.address, "usable_ms": usable}
        )

    _flow(settings, body)


def reserves_cmd(args: argparse.Namespace, settings: Settings) -> int:
    """Liabilities from the ledger against on-chain holdings (the nodes, or a --balances file); exit 1 when any
    asset is short, 2 when a node cannot be read."""
    from wallets.chains.bitcoin import BitcoinRPCError
    from wallets.chains.devnet import DevChainError

    async def body(wd: Withdrawals, w: Wallets, audit: AuditLog) -> None:
        owed = await w.store.read(liabilities)
        if args.balances:
            doc = _read_json(args.balances)
            held = {a: {k: Decimal(str(v)) for k, v in d.items()} for a, d in doc.items()}
        else:
            held = await _holdings_from_nodes(settings, args.cold_gap)
        lines.extend(reserves(owed, held))

    lines: list[Reserve] = []
    try:
        _flow(settings, body)
    except (CustodyError, ValueError, ArithmeticError, OSError, DevChainError, BitcoinRPCError) as exc:
        print(f"braid: {exc}", file=sys.stderr)
        return 2
    for r in lines:
        emit_json(
            sys.stdout,
            {
                "asset": r.asset,
                "liabilities": str(canon(r.liabilities)),
                "assets": str(canon(r.assets)),
                **{k: str(canon(v)) for k, v in r.on_chain.items()},
                "short": r.short,
            },
        )
    short = [r.asset for r in lines if r.short]
    if short:
        print(f"braid: RESERVES SHORT: liabilities exceed on-chain assets for {', '.join(short)}", file=sys.stderr)
        return 1
    return 0


def dev_send_cmd(args: argparse.Namespace, settings: Settings) -> None:
    """Pay ``--amount`` to ``--to`` on a dev chain that ``braid serve`` runs."""
    from gateway.custody_runtime import devchains_dir
    from wallets.chains.bitcoin import BitcoinRPCError
    from wallets.chains.devnet import INFO_FILE, DevChainError, DevChainInfo, dev_send

    try:
        amount = Decimal(args.amount)
    except ArithmeticError:
        raise CustodyError(f"--amount is not a number: {args.amount!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise CustodyError(f"--amount must be positive, was {args.amount}")
    if args.network == "BTC":
        validate_address("BTC", args.to, btc_params("regtest"))
    else:
        validate_address(args.network, args.to)
    info = DevChainInfo.load(devchains_dir(settings) / INFO_FILE)
    try:
        txid = asyncio.run(dev_send(info, args.network, args.to, amount, coin=args.coin))
    except (DevChainError, BitcoinRPCError, OSError) as exc:
        raise CustodyError(f"dev-send failed: {exc}") from None
    print(json.dumps({"network": args.network, "to": args.to, "amount": str(amount), "txid": txid}))


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("wallet", help="custody: key ceremony, deposit addresses, offline signing")
    w = p.add_subparsers(dest="wallet_command", required=True)

    q = w.add_parser("init", help="key ceremony: create the wallets and write each role its files")
    q.add_argument("--dir", help="output directory (default: BRAID_CUSTODY__DIR or <data_dir>/custody)")
    q.add_argument("--btc-network", choices=["mainnet", "testnet", "regtest"], help="default: from settings")
    q.add_argument("--cold-xpub", action="append", help="a cold cosigner's [fingerprint/path]xpub (three times)")
    q.add_argument("--cold-evm-address", help="the offline EVM cold wallet's address")
    q.add_argument("--dev", action="store_true", help="generate the cold keys here too (demo and tests only)")
    q.add_argument("--cold-dir", help="--dev: where the cold key files go (default <dir>/cold-DEV-ONLY)")
    q.add_argument("--show-mnemonic", action="store_true", help="print the hot/deposit seed words once (stderr)")
    q.set_defaults(run=_guard(init))

    q = w.add_parser("address", help="a client's deposit address (created on first request)")
    q.add_argument("--account", type=int, required=True)
    q.add_argument("--network", required=True, help="BTC, ETH or BSC")
    q.add_argument("--public", help="custody public file (default: <custody dir>/api)")
    q.set_defaults(run=_guard(address))

    q = w.add_parser("validate", help="check a withdrawal address for a network")
    q.add_argument("--network", required=True)
    q.add_argument("address")
    q.set_defaults(run=_guard(validate))

    q = w.add_parser("cold-psbt", help="build the PSBT of an approved cold BTC spend")
    q.add_argument("--approved", required=True, help="approved request JSON")
    q.add_argument("--utxo", action="append", required=True, help="TXID:VOUT:SATOSHIS:BRANCH:INDEX of a cold UTXO")
    q.add_argument("--out", required=True)
    q.add_argument("--public")
    q.set_defaults(run=_guard(cold_psbt))

    q = w.add_parser("sign", help="sign a cold PSBT with one cosigner key (run where the key is)")
    q.add_argument("--psbt", required=True)
    q.add_argument("--key", required=True, help="the cosigner's key file")
    q.add_argument("--out", required=True)
    q.add_argument("--approved", help="approved request JSON: refuse to sign unless the PSBT pays exactly that")
    q.add_argument("--public", help="custody public file (for --approved; default: <custody dir>/api)")
    q.set_defaults(run=_guard(sign))

    q = w.add_parser("finalize", help="combine cosigners' PSBTs, check against the approved request, finalise")
    q.add_argument("--psbt", action="append", required=True)
    q.add_argument("--approved", required=True)
    q.add_argument("--out", help="write the raw transaction (hex) here")
    q.add_argument("--public")
    q.set_defaults(run=_guard(finalize))

    q = w.add_parser("evm-unsigned", help="write an unsigned ETH/BSC transaction for offline signing")
    q.add_argument("--network", required=True, choices=["ETH", "BSC", "eth", "bsc"])
    q.add_argument("--to", required=True, help="destination address")
    q.add_argument("--amount", required=True, help="amount in whole units (ETH, BNB, or the token)")
    q.add_argument("--decimals", type=int, default=18)
    q.add_argument("--token", help="ERC-20/BEP-20 contract (for a token transfer)")
    q.add_argument("--nonce", type=int, required=True)
    q.add_argument("--gas", type=int, default=21000)
    q.add_argument("--max-fee", type=int, help="maxFeePerGas in wei (EIP-1559)")
    q.add_argument("--priority-fee", type=int, help="maxPriorityFeePerGas in wei")
    q.add_argument("--gas-price", type=int, help="gasPrice in wei (legacy)")
    q.add_argument("--chain-id", type=int, help="default: from settings")
    q.add_argument("--out", required=True)
    q.set_defaults(run=_guard(evm_unsigned))

    q = w.add_parser("sign-evm", help="sign an unsigned EVM transaction offline with the cold key")
    q.add_argument("--unsigned", required=True)
    q.add_argument("--key", required=True)
    q.add_argument("--out", required=True)
    q.set_defaults(run=_guard(sign_evm))

    q = w.add_parser("verify-evm", help="refuse a signed EVM transaction unless it matches the approved request")
    q.add_argument("--signed", required=True, help="file or hex")
    q.add_argument("--approved", required=True)
    q.set_defaults(run=_guard(verify_evm))

    q = w.add_parser("withdrawals", help="operators: list, approve, reject withdrawals; freeze and unfreeze them")
    ww = q.add_subparsers(dest="withdrawals_command", required=True)
    r = ww.add_parser("list", help="withdrawals as JSON lines, newest first")
    r.add_argument("--status", help="e.g. pending_approval, approved, waiting_cold, broadcast, completed")
    r.add_argument("--account", type=int)
    r.add_argument("--limit", type=int, default=100)
    r.set_defaults(run=_guard(withdrawals_list))
    for action, what in (
        ("approve", "approve a withdrawal (M distinct operators; never its requester)"),
        ("reject", "reject a withdrawal: its locked funds go back to the client"),
    ):
        r = ww.add_parser(action, help=what)
        r.add_argument("id")
        r.add_argument("--operator", required=True)
        if action == "reject":
            r.add_argument("--reason")
        r.set_defaults(run=_guard(withdrawals_act), action=action)
    for action, what in (
        ("freeze", "stop new withdrawals of one coin (BTC) or of ALL (persisted)"),
        ("unfreeze", "lift a freeze"),
    ):
        r = ww.add_parser(action, help=what)
        r.add_argument("scope", help="a coin (BTC, ETH, BNB, USDT), ALL, or account:<id>")
        r.add_argument("--operator", required=True)
        if action == "freeze":
            r.add_argument("--reason")
        r.set_defaults(run=_guard(withdrawals_act), action=action)

    q = w.add_parser(
        "whitelist", help="add a withdrawal address for an account (after BRAID_CUSTODY__FLOW__WHITELIST_COOLOFF_S)"
    )
    q.add_argument("--account", type=int, required=True)
    q.add_argument("--network", required=True, type=str.upper, choices=["BTC", "ETH", "BSC"])
    q.add_argument("address")
    q.add_argument("--totp", help="the account's current TOTP code (when it has two-factor authentication on)")
    q.set_defaults(run=_guard(whitelist_cmd))

    q = w.add_parser("reserves", help="client liabilities per asset against on-chain holdings; exit 1 if short")
    q.add_argument(
        "--balances",
        help='instead of asking the nodes, a JSON file of holdings: {"BTC": {"deposit": "1.2", "hot": "0.5"}, ...}',
    )
    q.add_argument("--cold-gap", type=int, default=20, help="cold BTC addresses read per branch (default 20)")
    q.set_defaults(run=reserves_cmd)

    q = w.add_parser("dev-send", help="send coins on the local dev chains (from their faucet) to an address")
    q.add_argument("--network", required=True, type=str.upper, choices=["BTC", "ETH", "BSC"])
    q.add_argument("--to", required=True, help="destination, e.g. a deposit address from the capital API")
    q.add_argument("--amount", required=True, help="whole coins, e.g. 0.1")
    q.add_argument("--coin", type=str.upper, help="USDT for the dev token (default: the network's own coin)")
    q.set_defaults(run=_guard(dev_send_cmd))
