"""`braid` loads only the module of the command it runs, and the command table names every command."""

from __future__ import annotations

import argparse
import subprocess
import sys

from gateway.cli import COMMANDS, build_parser


def _choices(parser: argparse.ArgumentParser) -> set[str]:
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(sub.choices)


def test_the_command_table_names_exactly_the_commands_the_modules_define() -> None:
    assert _choices(build_parser()) == set(COMMANDS)
    for command in COMMANDS:
        assert command in _choices(build_parser(command))


def test_a_light_command_starts_without_the_heavy_libraries() -> None:
    """`braid db current` must not pay for ccxt, web3 or scikit-learn at start-up."""
    code = (
        "import sys; from gateway.cli import build_parser; build_parser('db'); "
        "print(sorted(m for m in ('ccxt', 'web3', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
