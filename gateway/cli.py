"""The `braid` command line."""

from __future__ import annotations

import argparse
import sys

from config.logging import configure_logging
from config.settings import get_settings
from gateway import (
    accounts_commands,
    audit_commands,
    book_commands,
    chain_commands,
    compliance_commands,
    db_commands,
    kyc_commands,
    operators_commands,
    replay_commands,
    serve_command,
    treasury_commands,
    wallet_commands,
)
from wallets.migrations import SchemaError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="braid", description="Braid: liquidity aggregator and smart order router")
    sub = parser.add_subparsers(dest="command", required=True)
    book_commands.add_parsers(sub)
    serve_command.add_parsers(sub)
    replay_commands.add_parsers(sub)
    accounts_commands.add_parsers(sub)
    db_commands.add_parsers(sub)
    wallet_commands.add_parsers(sub)
    operators_commands.add_parsers(sub)
    audit_commands.add_parsers(sub)
    compliance_commands.add_parsers(sub)
    chain_commands.add_parsers(sub)
    kyc_commands.add_parsers(sub)
    treasury_commands.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = get_settings()
    configure_logging(settings)
    try:
        return int(args.run(args, settings) or 0)
    except SchemaError as exc:  # the database's schema is newer than this code, or not Braid's: change nothing
        print(f"braid: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
