"""Local stand-ins for chain nodes that cannot be installed here: the Bitcoin Core regtest simulator."""

from wallets.chains.simulators.bitcoin import BitcoinSimulator, RegtestNode, RPCError

__all__ = ["BitcoinSimulator", "RPCError", "RegtestNode"]
