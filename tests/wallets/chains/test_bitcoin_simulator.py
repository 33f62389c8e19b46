"""The regtest simulator: real serialisation, and Bitcoin Core's answers to good and bad transactions."""

from __future__ import annotations

import aiohttp
import pytest

from tests.wallets.chains.btc import Key, coinbase_of, spend
from wallets.chains import BitcoinRPC, BitcoinRPCError
from wallets.chains.simulators import BitcoinSimulator

# Regtest's genesis block (Bitcoin Core, chainparams.cpp) and its merkle root (the 2009 coinbase).
REGTEST_GENESIS = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
GENESIS_MERKLE = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"


async def test_genesis_and_chain_info(rpc: BitcoinRPC) -> None:
    info = await rpc.getblockchaininfo()
    assert info["chain"] == "regtest" and info["blocks"] == 0
    assert await rpc.getblockhash(0) == REGTEST_GENESIS
    block = await rpc.getblock(REGTEST_GENESIS, 1)
    assert block["merkleroot"] == GENESIS_MERKLE and block["confirmations"] == 1
    with pytest.raises(BitcoinRPCError) as err:
        await rpc.getblockhash(1)
    assert (err.value.code, err.value.message) == (-8, "Block height out of range")


async def test_wrong_password_is_refused(btc_sim: BitcoinSimulator) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            btc_sim.url,
            json={"method": "getblockcount", "params": []},
            headers={"Authorization": "Basic YWxpY2U6d3Jvbmc="},
        ) as resp:  # alice:wrong
            assert resp.status == 401


async def test_signed_spend_accepted_bad_signature_and_double_spend_refused(rpc: BitcoinRPC) -> None:
    miner, alice, mallory = Key("miner"), Key("alice"), Key("mallory")
    await rpc.call("generatetoaddress", 101, miner.address)
    prevout = coinbase_of(await rpc.getblock(await rpc.getblockhash(1)))
    assert prevout[2] == 50 * 100_000_000

    forged = spend(miner, [prevout], [(alice.address, 10 * 100_000_000)], signer=mallory)
    with pytest.raises(BitcoinRPCError) as err:
        await rpc.sendrawtransaction(forged.serialize().hex())
    assert err.value.code == -26
    assert err.value.message.startswith("mandatory-script-verify-flag-failed")

    good = spend(miner, [prevout], [(alice.address, 10 * 100_000_000), (miner.address, 40 * 100_000_000 - 1000)])
    txid = await rpc.sendrawtransaction(good.serialize().hex())
    assert txid == good.txid().hex() and await rpc.getrawmempool() == [txid]
    assert await rpc.sendrawtransaction(good.serialize().hex()) == txid  # resending is harmless, as in Core

    double = spend(miner, [prevout], [(mallory.address, 50 * 100_000_000 - 2000)])
    with pytest.raises(BitcoinRPCError) as err:
        await rpc.sendrawtransaction(double.serialize().hex())
    assert (err.value.code, err.value.message) == (-26, "txn-mempool-conflict")
    check = await rpc.testmempoolaccept([double.serialize().hex()])
    assert check[0]["allowed"] is False and check[0]["reject-reason"] == "txn-mempool-conflict"

    [bhash] = await rpc.call("generatetoaddress", 1, miner.address)
    block = await rpc.getblock(bhash, 2)
    assert [t["txid"] for t in block["tx"]][1:] == [txid]
    assert block["tx"][1]["vout"][0]["scriptPubKey"]["address"] == alice.address
    assert str(block["tx"][1]["fee"]) == "0.00001000"
    with pytest.raises(BitcoinRPCError) as err:
        await rpc.sendrawtransaction(double.serialize().hex())
    assert (err.value.code, err.value.message) == (-25, "bad-txns-inputs-missingorspent")
    raw = await rpc.getrawtransaction(txid)
    assert raw == good.serialize().hex()


async def test_immature_coinbase_high_s_and_fee_rules(rpc: BitcoinRPC) -> None:
    miner, alice = Key("miner"), Key("alice")
    await rpc.call("generatetoaddress", 99, miner.address)  # block 1's coinbase has 99 confirmations
    prevout = coinbase_of(await rpc.getblock(await rpc.getblockhash(1)))
    early = spend(miner, [prevout], [(alice.address, 50 * 100_000_000 - 1000)])
    with pytest.raises(BitcoinRPCError) as err:
        await rpc.sendrawtransaction(early.serialize().hex())
    assert err.value.code == -26 and err.value.message.startswith("bad-txns-premature-spend-of-coinbase")
    await rpc.call("generatetoaddress", 1, miner.address)

    # The same valid signature with S replaced by n - S is refused by policy (BIP-146 low S).
    tx = spend(miner, [prevout], [(alice.address, 50 * 100_000_000 - 1000)])
    sig, pub = tx.vin[0].witness.items
    rlen = sig[3]
    s = int.from_bytes(sig[6 + rlen : -1], "big")
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    high = (n - s).to_bytes(33, "big")
    body = sig[2 : 4 + rlen] + b"\x02" + bytes([len(high)]) + high
    tx.vin[0].witness.items[0] = b"\x30" + bytes([len(body)]) + body + b"\x01"
    with pytest.raises(BitcoinRPCError) as err:
        await rpc.sendrawtransaction(tx.serialize().hex())
    assert (err.value.code, err.value.message) == (
        -26,
        "non-mandatory-script-verify-flag (Non-canonical signature: S value is unnecessarily high)",
    )

    no_fee = spend(miner, [prevout], [(alice.address, 50 * 100_000_000)])
    with pytest.raises(BitcoinRPCError) as err:
        await rpc.sendrawtransaction(no_fee.serialize().hex())
    assert err.value.code == -26 and err.value.message.startswith("min relay fee not met")
    with pytest.raises(BitcoinRPCError) as err:
        await rpc.sendrawtransaction("00")
    assert err.value.code == -22
    fee = await rpc.estimatesmartfee(6)
    assert fee["feerate"] > 0


async def test_p2wsh_two_of_three_multisig(rpc: BitcoinRPC) -> None:
    from embit.script import Witness, multisig, p2wsh
    from embit.transaction import Transaction, TransactionInput, TransactionOutput

    from tests.wallets.chains.btc import REGTEST
    from tests.wallets.chains.btc import spend as p2wpkh_spend

    miner, alice = Key("miner"), Key("alice")
    keys = [Key(f"cold-{i}") for i in range(3)]
    ws = multisig(2, [k.pub for k in keys])
    vault = p2wsh(ws)
    await rpc.call("generatetoaddress", 101, miner.address)
    prevout = coinbase_of(await rpc.getblock(await rpc.getblockhash(1)))
    fund = p2wpkh_spend(miner, [prevout], [(vault.address(REGTEST), 50 * 100_000_000 - 1000)])
    fund_id = await rpc.sendrawtransaction(fund.serialize().hex())
    await rpc.call("generatetoaddress", 1, miner.address)

    def signed(signers: list[Key]) -> Transaction:
        tx = Transaction(
            version=2,
            vin=[TransactionInput(bytes.fromhex(fund_id), 0)],
            vout=[TransactionOutput(50 * 100_000_000 - 3000, alice.script)],
        )
        digest = tx.sighash_segwit(0, ws, 50 * 100_000_000 - 1000)
        sigs = [k.priv.sign(digest).serialize() + b"\x01" for k in signers]
        tx.vin[0].witness = Witness([b"", *sigs, ws.data])
        return tx

    with pytest.raises(BitcoinRPCError) as err:  # signatures out of key order fail CHECKMULTISIG
        await rpc.sendrawtransaction(signed([keys[2], keys[0]]).serialize().hex())
    assert err.value.code == -26
    assert await rpc.sendrawtransaction(signed([keys[0], keys[2]]).serialize().hex())
