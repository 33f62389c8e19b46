"""The `braid` command line."""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from config.logging import configure_logging
from config.settings import get_settings
from wallets.migrations import SchemaError

# Each command's module, in help order. Only the module of the command being run is imported: the
# modules between them pull in ccxt, web3, scikit-learn and the custody libraries (seconds of start-up).
COMMANDS: dict[str, str] = {
    "book": "book_commands",
    "serve": "serve_command",
    "simulate": "serve_command",
    "record": "replay_commands",
    "replay": "replay_commands",
    "generate-market": "replay_commands",
    "accounts": "accounts_commands",
    "db": "db_commands",
    "wallet": "wallet_commands",
    "operators": "operators_commands",
    "audit": "audit_commands",
    "compliance": "compliance_commands",
    "chain": "chain_commands",
    "kyc": "kyc_commands",
    "treasury": "treasury_commands",
}


def _modules(command: str | None) -> list[ModuleType]:
    names = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    return [importlib.import_module(f"gateway.{name}") for name in names]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``braid`` parser: every command, or only ``command``'s module when it is given and known."""
    parser = argparse.ArgumentParser(prog="braid", description="Braid: liquidity aggregator and smart order router")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in _modules(command):
        module.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    settings = get_settings()
    configure_logging(settings)
    try:
        return int(args.run(args, settings) or 0)
    except SchemaError as exc:  # the database's schema is newer than this code, or not Braid's: change nothing
        print(f"braid: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
