"""Binance's capital (wallet) endpoints: coin configuration, deposit address and history, withdrawals.

Field names and status codes are Binance's, so ccxt (``fetch_deposit_address``, ``fetch_deposits``,
``withdraw``, ``fetch_withdrawals``, with ``urls['api']['sapi']`` pointed here) and python-binance
(``get_deposit_address``, ``withdraw``, ``get_deposit_history``, ``get_withdraw_history``) work unchanged.

Deposit ``status``: 0 pending (detected, confirming), 6 credited but not yet withdrawable, 1 success (unlocked),
7 not credited (dust below the minimum, or reversed by a reorg). Withdrawal ``status``: 1 cancelled,
2 awaiting approval, 3 rejected, 4 processing (approved, waiting for a cold signature, signed, broadcast,
confirming), 5 failure, 6 completed (Braid sends no e-mail confirmation, so never 0).

Reads are USER_DATA (a read key); ``withdraw/apply`` needs a key that may trade (Braid's keys have no separate
withdrawal permission). Each committed credit, reversal, withdrawal request or release is a ``balanceUpdate``
on the account's user data stream (``balance_events``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web
from sqlalchemy import select

from compliance import SecondFactorError, TravelRuleError
from config.custody import custody_dir
from config.settings import Settings
from gateway.api.auth import Security
from gateway.api.context import CTX, ApiContext, audit, endpoint, key_of, params_of
from gateway.api.errors import ApiError, json_response
from gateway.api.params import Params
from gateway.binance_errors import RequestError
from gateway.custody_compliance import CustodyCompliance
from wallets import Wallets
from wallets.custody import models
from wallets.custody.coins import Coins
from wallets.custody.deposit_flow import Deposit, deposit_history
from wallets.custody.deposits import CustodyAddresses
from wallets.custody.errors import CustodyError
from wallets.custody.public import FILE_NAME, PublicWallets
from wallets.custody.withdrawals import Withdrawal, WithdrawalRefused, Withdrawals
from wallets.models import canon

DEPOSIT_STATUS = {
    "detected": 0,
    "confirming": 0,
    "held": 0,  # waiting on a compliance case, not credited
    "credited": 6,
    "locked": 6,  # credited, kept from withdrawal by compliance (tier limit, Travel Rule details)
    "unlocked": 1,
    "dust": 7,
    "reversed": 7,
    "returned": 2,  # rejected: a compliance case returned it
}
WITHDRAW_STATUS = {
    "requested": 4,
    "pending_approval": 2,
    "held": 2,  # held by compliance until its case is closed
    "approved": 4,
    "waiting_cold": 4,
    "signed": 4,
    "broadcast": 4,
    "confirming": 4,
    "completed": 6,
    "cancelled": 1,
    "rejected": 3,
    "failed": 5,
}


@dataclass
class Custody:
    """What the capital endpoints use: deposit addresses and withdrawals (None on the context: disabled)."""

    addresses: CustodyAddresses
    withdrawals: Withdrawals
    compliance: CustodyCompliance | None = None  # the hooks' services (deposit flows take its deposit_hooks())

    @property
    def coins(self) -> Coins:
        return self.withdrawals.coins


def custody_enabled(settings: Settings) -> bool:
    """The key ceremony's public file is there (``braid wallet init`` has run)."""
    return (custody_dir(settings.custody, settings.data_dir) / "api" / FILE_NAME).exists()


def custody_from_settings(
    settings: Settings, wallets: Wallets, compliance: CustodyCompliance | None = None
) -> Custody | None:
    """The capital endpoints' custody when the key ceremony's public file is there (``braid wallet init``), else
    None (the endpoints then answer that deposits and withdrawals are not enabled). ``compliance``: the tier
    limits, Travel Rule, screening, AML and operator checks on its withdrawals (``braid serve`` gives them)."""
    if not custody_enabled(settings):
        return None
    public_dir = custody_dir(settings.custody, settings.data_dir) / "api"
    public = PublicWallets.load(public_dir)
    addresses = CustodyAddresses.open(settings.database_url, public, schema=settings.database_schema)
    hooks = compliance.withdrawal_hooks(settings.custody.flow) if compliance is not None else {}
    withdrawals = Withdrawals(wallets.store, wallets.ledger, settings.custody.flow, btc=public.btc, **hooks)
    return Custody(addresses, withdrawals, compliance)


def _custody(request: web.Request) -> Custody:
    c = request.app[CTX].custody
    if c is None:
        raise ApiError.of(RequestError.CAPITAL_DISABLED)
    return c  # type: ignore[no-any-return]


def _page(request: web.Request) -> tuple[Custody, Params, int, int, int]:
    """A history request's custody, parameters, account, limit (1..1000) and offset."""
    p = params_of(request)
    limit = p.integer("limit", default=1000, lo=1, hi=1000) or 1000
    offset = p.integer("offset", default=0, lo=0) or 0
    return _custody(request), p, request.app[CTX].caller(key_of(request)).account_id, limit, offset


def _text(d: Decimal) -> str:
    return format(canon(d), "f")


def _network(custody: Custody, coin: str, network: str | None) -> str:
    if network:
        if custody.coins.get(network, coin) is None:
            raise ApiError.of(RequestError.COIN_NOT_ON_NETWORK, coin=coin.upper(), network=network.upper())
        return network.upper()
    nets = custody.coins.networks_of(coin)
    if not nets:
        raise ApiError.of(RequestError.COIN_DISABLED, coin=coin.upper())
    return nets[0].network  # the first configured network is the coin's default


def _apply_time(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000))


def deposit_json(d: Deposit, custody: Custody) -> dict[str, object]:
    coin = custody.coins.get(d.chain, d.coin)
    credit = coin.credit_confirmations if coin else 0
    return {
        "id": d.id,
        "amount": _text(d.amount),
        "coin": d.coin,
        "network": d.chain,
        "status": DEPOSIT_STATUS.get(d.status, 0),
        "address": d.address,
        "addressTag": "",
        "txId": d.txid,
        "insertTime": d.created,
        "completeTime": d.updated if d.status in ("credited", "locked", "unlocked") else 0,
        "transferType": 0,
        "confirmTimes": f"{min(d.confirmations, credit)}/{credit}",
        "unlockConfirm": coin.unlock_confirmations if coin else 0,
        "walletType": 0,
    }


def withdrawal_json(w: Withdrawal) -> dict[str, object]:
    out: dict[str, object] = {
        "id": w.id,
        "amount": _text(w.amount),
        "transactionFee": _text(w.fee),
        "coin": w.coin,
        "status": WITHDRAW_STATUS.get(w.status, 4),
        "address": w.address,
        "txId": w.txid or "",
        "applyTime": _apply_time(w.created),
        "network": w.network,
        "transferType": 0,
        "withdrawOrderId": w.client_id if w.client_id != w.id else "",
        "info": w.reason,
        "confirmNo": 0,
        "walletType": 0,
        "txKey": "",
    }
    if w.status == "completed":
        out["completeTime"] = _apply_time(w.updated)
    return out


@endpoint(weight=10, security=Security.USER_DATA)
async def coin_config(request: web.Request) -> web.Response:
    """All coins' deposit and withdrawal configuration, with the account's balances."""
    custody = _custody(request)
    ctx = request.app[CTX]
    account = ctx.caller(key_of(request)).account_id
    frozen = await custody.withdrawals.freezes()
    await ctx.service.wallets.ledger.refresh(account)  # as stored: another process may have changed them
    out = []
    for coin in dict.fromkeys(c.coin for c in custody.coins.all):
        bal = ctx.service.wallets.ledger.balance(account, coin)
        nets = custody.coins.networks_of(coin)
        stopped = "ALL" in frozen or coin in frozen
        out.append(
            {
                "coin": coin,
                "depositAllEnable": True,
                "withdrawAllEnable": not stopped,
                "name": coin,
                "free": _text(bal.free),
                "locked": _text(bal.locked),
                "freeze": "0",
                "withdrawing": "0",
                "ipoing": "0",
                "ipoable": "0",
                "storage": "0",
                "isLegalMoney": False,
                "trading": True,
                "networkList": [
                    {
                        "network": n.network,
                        "coin": coin,
                        "withdrawIntegerMultiple": _text(Decimal(1).scaleb(-n.decimals)),
                        "isDefault": i == 0,
                        "depositEnable": True,
                        "withdrawEnable": not stopped,
                        "depositDesc": "",
                        "withdrawDesc": "",
                        "specialTips": "",
                        "name": n.network,
                        "resetAddressStatus": False,
                        "addressRegex": "^(bc1|bcrt1|tb1|[13mn2])[a-zA-Z0-9]{25,90}$"
                        if n.network == "BTC"
                        else "^(0x)[0-9A-Fa-f]{40}$",
                        "memoRegex": "",
                        "withdrawFee": _text(n.withdraw_fee),
                        "withdrawMin": _text(n.withdraw_min),
                        "withdrawMax": _text(n.daily_limit) if n.daily_limit else "9999999999",
                        "depositDust": _text(n.min_deposit),
                        "minConfirm": n.credit_confirmations,
                        "unLockConfirm": n.unlock_confirmations,
                        "sameAddress": False,
                        "estimatedArrivalTime": 0,
                        "busy": False,
                        "contractAddressUrl": "",
                        "contractAddress": n.contract or "",
                    }
                    for i, n in enumerate(nets)
                ],
            }
        )
    return json_response(out)


@endpoint(weight=10, security=Security.USER_DATA)
async def deposit_address(request: web.Request) -> web.Response:
    """The account's deposit address for a coin on a network (created on first request)."""
    custody = _custody(request)
    p = params_of(request)
    coin = p.required("coin").upper()
    network = _network(custody, coin, p.get("network"))
    account = request.app[CTX].caller(key_of(request)).account_id
    try:
        found = await custody.addresses.deposit_address_async(account, network)
    except CustodyError as exc:
        raise ApiError.of(RequestError.CAPITAL_REFUSED, reason=exc) from None
    return json_response({"address": found.address, "coin": coin, "tag": "", "url": ""})


@endpoint(weight=1, security=Security.USER_DATA)
async def deposit_hisrec(request: web.Request) -> web.Response:
    """The account's deposits, newest first."""
    custody, p, account, limit, offset = _page(request)
    start, end = p.integer("startTime"), p.integer("endTime")
    coin = p.get("coin")
    rows = await request.app[CTX].service.wallets.store.read(
        lambda conn: deposit_history(conn, account, coin=coin, start=start, end=end, limit=limit + offset)
    )
    status, tx = p.get("status"), p.get("txId")
    out = [deposit_json(d, custody) for d in rows[offset:]]
    out = [d for d in out if (status is None or str(d["status"]) == status) and (tx is None or d["txId"] == tx)]
    return json_response(out)


@endpoint(weight=1, security=Security.TRADE)
async def withdraw_apply(request: web.Request) -> web.Response:
    """Request a withdrawal: the amount and network fee are locked at once; answers its id."""
    custody = _custody(request)
    p = params_of(request)
    coin = p.required("coin").upper()
    address = p.required("address")
    amount = p.decimal("amount", required=True)
    assert amount is not None
    network = _network(custody, coin, p.get("network"))
    account = request.app[CTX].caller(key_of(request)).account_id
    await _second_factor(request, account, p.get("totpCode"), f"{coin} {amount} to {address} on {network}")
    details: dict[str, Any] = {}
    questionnaire = p.get("questionnaire")  # the Travel Rule beneficiary (IVMS 101 JSON), as Binance's local entities
    if questionnaire:
        details["beneficiary"] = _questionnaire(questionnaire)
        details["hosted"] = (p.get("hostedWallet") or "true").lower() != "false"
    try:
        w = await custody.withdrawals.request(
            account, coin, network, address, amount, client_id=p.get("withdrawOrderId"), details=details
        )
    except WithdrawalRefused as exc:
        raise ApiError(exc.code, exc.msg) from None
    return json_response({"id": w.id})


async def _second_factor(request: web.Request, account: int, code: str | None, what: str) -> None:
    """An account with two-factor authentication on sends a fresh TOTP code (``totpCode``) with each withdrawal;
    a refusal is audited and moves nothing."""
    bo = request.app[CTX].backoffice
    if bo is None:
        return
    try:
        await asyncio.to_thread(bo.factors.require_second_factor, account, code)
    except SecondFactorError as exc:
        await audit(request, "withdrawal.refused_2fa", f"account:{account}", {"withdrawal": what, "reason": str(exc)})
        raise ApiError.of(RequestError.UNAUTHORIZED_BECAUSE, reason=exc) from None


@endpoint(weight=1, security=Security.USER_DATA)
async def withdraw_history(request: web.Request) -> web.Response:
    """The account's withdrawals, newest first."""
    custody, p, account, limit, offset = _page(request)
    rows = await custody.withdrawals.query(
        account_id=account,
        coin=p.get("coin"),
        start=p.integer("startTime"),
        end=p.integer("endTime"),
        limit=limit + offset,
    )
    out = [withdrawal_json(w) for w in rows[offset:]]
    status, client_id, ids = p.get("status"), p.get("withdrawOrderId"), p.get("idList")
    wanted = set(ids.split(",")) if ids else None
    out = [
        w
        for w in out
        if (status is None or str(w["status"]) == status)
        and (client_id is None or w["withdrawOrderId"] == client_id)
        and (wanted is None or w["id"] in wanted)
    ]
    return json_response(out)


@endpoint(weight=1, security=Security.TRADE)
async def deposit_provide_info(request: web.Request) -> web.Response:
    """The Travel Rule originator of one of the account's deposits (``questionnaire``: IVMS 101 JSON), as Binance's
    local-entity ``deposit/provide-info``; a deposit at or above the threshold unlocks once it is on file."""
    custody = _custody(request)
    travel = custody.compliance.travel_rule if custody.compliance is not None else None
    if travel is None:
        raise ApiError.of(RequestError.TRAVEL_RULE_OFF)
    p = params_of(request)
    deposit = p.get("depositId") or p.required("tranId")
    ivms = _questionnaire(p.required("questionnaire"))
    account = request.app[CTX].caller(key_of(request)).account_id
    t = models.deposits
    q = select(t.c.id).where(t.c.id == deposit, t.c.account_id == account)
    if await request.app[CTX].service.wallets.store.read(lambda c: c.execute(q).first()) is None:
        raise ApiError.of(RequestError.DEPOSIT_UNKNOWN, deposit=deposit)
    try:
        await asyncio.to_thread(travel.attach_originator, deposit, ivms)
    except TravelRuleError as exc:
        raise ApiError.of(RequestError.TRAVEL_RULE_REFUSED, reason=exc) from None
    return json_response({"depositId": deposit, "accepted": True, "info": "originator details on file"})


def _questionnaire(text: str) -> dict[str, Any]:
    try:
        found = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ApiError.of(RequestError.ILLEGAL_BECAUSE, name="questionnaire", reason="JSON expected") from None
    if not isinstance(found, dict):
        raise ApiError.of(RequestError.ILLEGAL_BECAUSE, name="questionnaire", reason="a JSON object expected")
    return found


def balance_events(
    ctx: ApiContext,
) -> tuple[Callable[[Deposit, str, Decimal], None], Callable[[Withdrawal, Decimal], None]]:
    """Callbacks for ``DepositFlow(on_step=...)`` and ``Withdrawals(on_balance=...)`` that tell the account's user
    data stream (``balanceUpdate``) through the order service's listeners."""

    def tell(account_id: int, asset: str, delta: Decimal) -> None:
        if not delta:
            return
        data: dict[str, Any] = {"asset": asset, "delta": delta}
        for listener in list(ctx.service.listeners):
            listener("balance_update", account_id, data)

    def on_deposit(d: Deposit, step: str, delta: Decimal) -> None:
        tell(d.account_id, d.coin, delta)

    def on_withdrawal(w: Withdrawal, delta: Decimal) -> None:
        tell(w.account_id, w.coin, delta)

    return on_deposit, on_withdrawal


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/sapi/v1/capital/config/getall", coin_config)
    r.add_get("/sapi/v1/capital/deposit/address", deposit_address)
    r.add_get("/sapi/v1/capital/deposit/hisrec", deposit_hisrec)
    r.add_post("/sapi/v1/capital/withdraw/apply", withdraw_apply)
    r.add_put("/sapi/v1/localentity/deposit/provide-info", deposit_provide_info)
    r.add_get("/sapi/v1/capital/withdraw/history", withdraw_history)
