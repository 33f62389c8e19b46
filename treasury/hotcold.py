"""Hot and cold: keep the hot wallet inside its band (``custody.hot_limits``) per coin and network.

Above the ceiling the plan proposes ``hot_to_cold`` (balance - target, to the cold wallet); below the floor it
drafts ``cold_to_hot`` (target - balance, to the hot wallet). Both are treasury transfers (venue ``custody``),
recorded before anything moves and approved by M distinct operators like any other (the proposer never counts).

Once approved:

- ``hot_to_cold`` is signed by the network's hot signer; the signed transaction and its txid are stored
  (``signed``) BEFORE the broadcast, and a ``signed`` transfer found later is looked up on the chain by txid and
  only the same bytes are rebroadcast when the node does not know them: never built or sent twice.
- ``cold_to_hot`` gets its artefact for the cold signers (Bitcoin: a PSBT of the 2-of-3 multisig paying the hot
  address, change back to the cold change branch; ETH/BSC: the unsigned transaction from the cold address) and
  waits in ``waiting_cold``. ``attach_cold`` takes the cosigners' PSBTs (or the signed EVM transaction), refuses
  them unless they pay exactly the approved amount to the hot address (``finalize_cold`` / ``verify_signed_evm``),
  then stores and broadcasts as above.

A broadcast transfer is ``sent``; at ``confirmations`` it is ``completed``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from eth_utils.crypto import keccak

from config.custody import HotLimit
from wallets.custody.amounts import to_base_units
from wallets.custody.btc import ColdSpendRequest, ColdUtxo, build_cold_psbt, finalize_cold, from_sat, to_sat
from wallets.custody.coins import Coins
from wallets.custody.errors import CustodyError
from wallets.custody.evm import EvmSpendRequest, transfer_data, unsigned_tx, verify_signed_evm
from wallets.custody.hot_signers import NATIVE_GAS, TOKEN_GAS
from wallets.custody.hot_signers import EvmNode as EvmNodeLike
from wallets.custody.public import PublicWallets
from wallets.custody.reserves import BtcBalances, EvmBalances, on_chain
from wallets.custody.withdrawals import ChainClient, Signer, Withdrawal
from wallets.errors import WalletError

if TYPE_CHECKING:
    from treasury.service import Transfer, Treasury

log = structlog.get_logger(__name__)

HOT_TO_COLD = "hot_to_cold"
COLD_TO_HOT = "cold_to_hot"
KINDS = (HOT_TO_COLD, COLD_TO_HOT)
CUSTODY = "custody"  # the ``venue`` of hot <-> cold transfers
# Virtual bytes of a cold spend: overhead, per 2-of-3 P2WSH input, a P2WPKH output (hot), a P2WSH output (change).
TX_VB, COLD_INPUT_VB, P2WPKH_OUT_VB, P2WSH_OUT_VB = 11, 105, 31, 43
P2WSH_DUST_SAT = 330


@dataclass(frozen=True)
class Band:
    """The hot wallet's band for ``coin`` on ``network``."""

    coin: str
    network: str
    floor: Decimal
    target: Decimal
    ceiling: Decimal


def bands(limits: Mapping[str, HotLimit], coins: Coins) -> list[Band]:
    """The configured bands; a key is ``COIN@NETWORK``, or ``COIN`` when Braid has it on one network only."""
    out: list[Band] = []
    for key, limit in sorted(limits.items()):
        coin, _, network = key.upper().partition("@")
        if not network:
            nets = sorted({c.network for c in coins.networks_of(coin)})
            if len(nets) != 1:
                raise WalletError(f"custody.hot_limits {key!r}: say COIN@NETWORK ({coin} is on {nets or 'no network'})")
            network = nets[0]
        if coins.get(network, coin) is None:
            raise WalletError(f"custody.hot_limits {key!r}: Braid has no {coin} on {network} (custody.flow.coins)")
        out.append(Band(coin, network, limit.floor, limit.target, limit.ceiling))
    return out


class HotBalances(Protocol):
    async def hot_balance(self, coin: str, network: str) -> Decimal:
        """What the hot wallet holds of ``coin`` on ``network`` (confirmed)."""
        ...


class NodeHotBalances:
    """Hot balances read from the nodes as ``braid wallet reserves`` reads them (``reserves.on_chain``)."""

    def __init__(
        self, public: PublicWallets, coins: Coins, btc: BtcBalances | None, evm: Mapping[str, EvmBalances]
    ) -> None:
        self.public, self.coins, self.btc, self.evm = public, coins, btc, dict(evm)

    async def hot_balance(self, coin: str, network: str) -> Decimal:
        c = self.coins.require(network, coin)
        held = await on_chain([c], self.public, {}, self.btc, self.evm, cold_gap=0)
        return held.get(c.coin, {}).get("hot", Decimal(0))


class ColdCoin(Protocol):
    @property
    def txid(self) -> str: ...

    @property
    def vout(self) -> int: ...

    @property
    def value_sat(self) -> int: ...

    @property
    def address(self) -> str: ...


class ColdBtcNode(Protocol):
    """What drafting a cold PSBT needs of the Bitcoin node (``wallets.chains.nodes.BitcoinNode``)."""

    async def utxos(self, addresses: Sequence[str]) -> Sequence[ColdCoin]: ...

    async def fee_rate_sat_vb(self) -> int: ...


def _units(amount: Decimal, decimals: int) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN)


class HotCold:
    """Plans and runs hot <-> cold transfers for a ``Treasury`` (``Treasury(hot_cold=...)``)."""

    def __init__(
        self,
        bands: Sequence[Band],
        public: PublicWallets,
        coins: Coins,
        *,
        balances: HotBalances,
        chains: Mapping[str, ChainClient],
        signers: Mapping[str, Signer],
        btc_node: ColdBtcNode | None = None,
        evm_nodes: Mapping[str, EvmNodeLike] | None = None,
        chain_ids: Mapping[str, int] | None = None,
        cold_gap: int = 20,
        confirmations: int = 1,
    ) -> None:
        self.bands = list(bands)
        self.public = public
        self.coins = coins
        self.balances = balances
        self.chains = dict(chains)
        self.signers = dict(signers)
        self.btc_node = btc_node
        self.evm_nodes = dict(evm_nodes or {})
        self.chain_ids = dict(chain_ids or {})
        self.cold_gap = cold_gap
        self.confirmations = confirmations

    # ----- addresses -----
    def hot_address(self, network: str) -> str:
        return self.public.hot_address(network)  # type: ignore[arg-type]

    def cold_address(self, network: str) -> str:
        if network == "BTC":
            return self.public.cold_address(0, 0)
        if not self.public.cold_evm_address:
            raise WalletError("the custody public file has no cold EVM address")
        return self.public.cold_evm_address

    def destination(self, kind: str, network: str) -> str:
        return self.cold_address(network) if kind == HOT_TO_COLD else self.hot_address(network)

    # ----- planning -----
    async def plan(self, tr: Treasury, proposer: str) -> list[Transfer]:
        """One proposal per band the hot wallet is outside of; none where one is still open, or whose hot balance
        cannot be read now."""
        from treasury.service import OPEN_STATES

        busy = {(t.asset, t.network) for t in tr.list_transfers(states=OPEN_STATES) if t.kind in KINDS}
        made: list[Transfer] = []
        for band in self.bands:
            if (band.coin, band.network) in busy:
                continue
            decimals = self.coins.require(band.network, band.coin).decimals
            try:
                held = await self.balances.hot_balance(band.coin, band.network)
            except Exception as exc:  # noqa: BLE001 - a node that does not answer: this band waits, the rest go on
                log.warning("treasury_hot_balance_unavailable", coin=band.coin, network=band.network, error=repr(exc))
                continue
            if held > band.ceiling:
                kind, amount = HOT_TO_COLD, _units(held - band.target, decimals)
                reason = (
                    f"hot {band.network} {held} {band.coin} > ceiling {band.ceiling}: to cold, down to {band.target}"
                )
            elif held < band.floor:
                kind, amount = COLD_TO_HOT, _units(band.target - held, decimals)
                reason = (
                    f"hot {band.network} holds {held} {band.coin} < floor {band.floor}: from cold up to {band.target}"
                )
            else:
                continue
            if amount <= 0:
                continue
            address = self.destination(kind, band.network)
            made.append(await tr.record(kind, CUSTODY, band.coin, band.network, amount, address, proposer, reason))
        return made

    # ----- execution -----
    async def execute(self, tr: Treasury, t: Transfer) -> Transfer:
        """Move an approved transfer on one step: sign and broadcast (hot -> cold), draft the cold artefact
        (cold -> hot); settle a ``signed`` one by txid; complete a ``sent`` one at its confirmations."""
        if t.state == "approved":
            tr.check_approved(t)
            tr.check_destination(t, self.destination(t.kind, t.network))
            if t.kind == HOT_TO_COLD:
                return await self._sign_hot(tr, t)
            return await self._draft_cold(tr, t)
        if t.state == "signed":
            return await self._settle_signed(tr, t)
        if t.state == "sent":
            return await self._check_sent(tr, t)
        if t.state == "waiting_cold":
            return t
        raise WalletError(
            f"transfer {t.id} is {t.state}; it needs {tr.required_approvals} approvals first"
            if t.state == "proposed"
            else f"transfer {t.id} is {t.state}, nothing to execute"
        )

    async def settle(self, tr: Treasury, t: Transfer) -> Transfer:
        """After a crash: a ``signed`` transfer found by txid (rebroadcast only if the node lacks it); ``sent``
        ones completed when deep enough."""
        if t.state == "signed":
            t = await self._settle_signed(tr, t)
        if t.state == "sent":
            t = await self._check_sent(tr, t)
        return t

    def _chain(self, network: str) -> ChainClient:
        chain = self.chains.get(network)
        if chain is None:
            raise WalletError(f"no {network} node is configured: the transfer cannot be broadcast")
        return chain

    async def _sign_hot(self, tr: Treasury, t: Transfer) -> Transfer:
        signer = self.signers.get(t.network)
        if signer is None:
            raise WalletError(f"no {t.network} hot signer is configured")
        self._chain(t.network)
        coin = self.coins.require(t.network, t.asset)
        w = Withdrawal(
            f"treasury:{t.id}", 0, t.client_id, t.asset, t.network, t.address, t.amount, Decimal(0), "approved",
            t.reason, t.proposer, None, None, t.created, t.updated,
        )  # fmt: skip
        try:
            signed = await signer.sign(w, coin)
        except CustodyError as exc:  # nothing left the wallet
            tr.set_state(t.id, ("approved",), state="failed", error=f"hot signing failed: {exc}"[:300])
            log.warning("treasury_hot_to_cold_sign_failed", id=t.id, error=str(exc))
            return tr.get(t.id)
        if not tr.set_state(t.id, ("approved",), state="signed", raw_tx=signed.raw.hex(), tx_id=signed.txid):
            raise WalletError(f"transfer {t.id} changed state while signing; look at it again")
        log.info("treasury_transfer_signed", id=t.id, kind=t.kind, txid=signed.txid)
        return await self._broadcast(tr, tr.get(t.id))

    async def _broadcast(self, tr: Treasury, t: Transfer) -> Transfer:
        assert t.raw_tx is not None
        try:
            await self._chain(t.network).broadcast(t.network, bytes.fromhex(t.raw_tx))
        except WalletError:
            raise
        except Exception as exc:
            tr.set_state(t.id, ("signed",), error=f"broadcast failed: {exc}"[:300])
            raise WalletError(f"transfer {t.id} signed but not broadcast ({exc}); execute it again") from exc
        tr.set_state(t.id, ("signed",), state="sent", venue_ref=t.tx_id, error=None)
        log.info("treasury_transfer_broadcast", id=t.id, kind=t.kind, txid=t.tx_id)
        return tr.get(t.id)

    async def _settle_signed(self, tr: Treasury, t: Transfer) -> Transfer:
        assert t.tx_id is not None
        if await self._chain(t.network).lookup(t.network, t.tx_id) is None:
            log.warning("treasury_signed_unknown_to_node: rebroadcasting the stored bytes", id=t.id, txid=t.tx_id)
            return await self._broadcast(tr, t)
        tr.set_state(t.id, ("signed",), state="sent", venue_ref=t.tx_id)
        return tr.get(t.id)

    async def _check_sent(self, tr: Treasury, t: Transfer) -> Transfer:
        assert t.tx_id is not None
        seen = await self._chain(t.network).lookup(t.network, t.tx_id)
        if seen is not None and seen >= self.confirmations:
            tr.set_state(t.id, ("sent",), state="completed")
            log.info("treasury_transfer_completed", id=t.id, kind=t.kind, txid=t.tx_id)
        return tr.get(t.id)

    # ----- the cold path -----
    async def _draft_cold(self, tr: Treasury, t: Transfer) -> Transfer:
        artefact = await (self._btc_psbt(t) if t.network == "BTC" else self._evm_unsigned(t))
        if not tr.set_state(t.id, ("approved",), state="waiting_cold", artefact=json.dumps(artefact)):
            raise WalletError(f"transfer {t.id} changed state while drafting; look at it again")
        log.info("treasury_cold_drafted", id=t.id, network=t.network, amount=str(t.amount))
        return tr.get(t.id)

    async def _btc_psbt(self, t: Transfer) -> dict[str, Any]:
        if self.btc_node is None:
            raise WalletError("no BTC node is configured: the cold PSBT cannot be drafted")
        where = {self.public.cold_address(b, i): (b, i) for b in (0, 1) for i in range(self.cold_gap)}
        utxos = await self.btc_node.utxos(list(where))
        rate = await self.btc_node.fee_rate_sat_vb()
        amount = to_sat(t.amount)
        chosen: list[ColdUtxo] = []
        total = fee = 0
        for u in sorted(utxos, key=lambda u: (-u.value_sat, u.txid, u.vout)):
            b, i = where[u.address]
            chosen.append(ColdUtxo(u.txid, u.vout, u.value_sat, b, i))
            total += u.value_sat
            fee = (TX_VB + COLD_INPUT_VB * len(chosen) + P2WPKH_OUT_VB + P2WSH_OUT_VB) * rate
            if total >= amount + fee:
                break
        if total < amount + fee or not chosen:
            raise WalletError(f"the cold wallet holds {from_sat(total)} BTC; the refill needs {t.amount} + fee")
        change = total - amount - fee
        if change < P2WSH_DUST_SAT:
            fee, change = fee + change, 0
        request = ColdSpendRequest(
            destination=t.address,
            amount=from_sat(amount),
            change_amount=from_sat(change),
            change_index=0,
            max_fee=from_sat(fee),
            btc_network=self.public.btc_network,
        )
        psbt = build_cold_psbt(self.public, chosen, request)
        return {"network": "BTC", "psbt": psbt.to_string(), "request": request.to_json()}

    def _evm_request(self, t: Transfer) -> EvmSpendRequest:
        coin = self.coins.require(t.network, t.asset)
        return EvmSpendRequest(
            t.network,  # type: ignore[arg-type]
            self.chain_ids[t.network],
            t.address,
            format(t.amount, "f"),
            coin.decimals,
            coin.contract,
            self.cold_address(t.network),
        )

    async def _evm_unsigned(self, t: Transfer) -> dict[str, Any]:
        node = self.evm_nodes.get(t.network)
        if node is None or t.network not in self.chain_ids:
            raise WalletError(f"no {t.network} node or chain id is configured: the cold transaction cannot be drafted")
        coin = self.coins.require(t.network, t.asset)
        cold = self.cold_address(t.network)
        units = to_base_units(t.amount, coin.decimals)
        chain_id, nonce = self.chain_ids[t.network], await node.nonce(t.network, cold)
        price = await node.gas_price(t.network)
        if coin.contract:
            data = transfer_data(t.address, units)
            tx = unsigned_tx(
                chain_id=chain_id, nonce=nonce, to=coin.contract, data=data, gas=TOKEN_GAS, gas_price=price
            )
        else:
            tx = unsigned_tx(
                chain_id=chain_id, nonce=nonce, to=t.address, value_wei=units, gas=NATIVE_GAS, gas_price=price
            )
        r = self._evm_request(t)
        request = {
            "network": r.network,
            "chain_id": r.chain_id,
            "destination": r.destination,
            "amount": r.amount,
            "decimals": r.decimals,
            "token": r.token,
            "sender": r.sender,
        }
        return {"network": t.network, "unsigned": tx, "request": request}

    async def attach_cold(self, tr: Treasury, t: Transfer, signed: Sequence[str]) -> Transfer:
        """The cold signers' work for a ``waiting_cold`` transfer: Bitcoin, the cosigners' PSBTs (base64);
        ETH/BSC, the signed raw transaction (hex). Refused unless it pays exactly the approved transfer."""
        if t.kind != COLD_TO_HOT or t.state != "waiting_cold" or t.artefact is None:
            raise WalletError(f"transfer {t.id} is a {t.kind} in state {t.state}, not waiting for the cold signers")
        tr.check_destination(t, self.hot_address(t.network))
        if t.network == "BTC":
            request = ColdSpendRequest.from_json(json.loads(t.artefact)["request"])
            if request.destination != t.address or to_sat(request.amount) != to_sat(t.amount):
                raise WalletError(f"transfer {t.id}'s stored PSBT request differs from the approved transfer")
            tx = finalize_cold(list(signed), request, self.public)  # SpendMismatch unless exactly as approved
            raw, txid = bytes(tx.serialize()), tx.txid().hex()
        else:
            if len(signed) != 1:
                raise WalletError("give the one signed EVM transaction (hex)")
            try:
                raw = bytes.fromhex(signed[0].strip().removeprefix("0x"))
            except ValueError:
                raise WalletError("the signed EVM transaction is not hex") from None
            verify_signed_evm(raw, self._evm_request(t))
            txid = "0x" + keccak(raw).hex()
        if not tr.set_state(t.id, ("waiting_cold",), state="signed", raw_tx=raw.hex(), tx_id=txid):
            raise WalletError(f"transfer {t.id} changed state while attaching; look at it again")
        log.info("treasury_cold_signed", id=t.id, txid=txid)
        return await self._broadcast(tr, tr.get(t.id))
