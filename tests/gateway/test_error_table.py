"""Every Binance error the gateway sends comes from one table (gateway.binance_errors), each text written once."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gateway
from gateway.api.errors import ApiError, invalid_enum, mandatory
from gateway.binance_errors import REQUEST_ERRORS, RequestError, binance_error
from gateway.orders_service import OrderRefused
from router.reasons import BINANCE_ERRORS

GATEWAY = Path(gateway.__file__).parent


def literal_error_sites() -> list[str]:
    """``ApiError(<int literal>, ...)`` / ``OrderRefused(<int literal>, ...)`` calls: a text outside the table."""
    found = []
    for path in sorted(GATEWAY.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name | ast.Attribute)
                and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr)
                in {"ApiError", "OrderRefused"}
                and node.args
                and isinstance(node.args[0], ast.UnaryOp | ast.Constant)
            ):
                found.append(f"{path.relative_to(GATEWAY.parent)}:{node.lineno}")
    return found


def literal_error_dicts() -> list[str]:
    """``{"code": <int literal>, "msg": ...}`` dicts: an answer written outside the table."""
    found = []
    for path in sorted(GATEWAY.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Dict):
                keys = {k.value: v for k, v in zip(node.keys, node.values, strict=True) if isinstance(k, ast.Constant)}
                if "msg" in keys and isinstance(keys.get("code"), ast.UnaryOp | ast.Constant):
                    found.append(f"{path.relative_to(GATEWAY.parent)}:{node.lineno}")
    return found


def test_no_gateway_module_writes_its_own_error_text() -> None:
    assert literal_error_sites() == []
    assert literal_error_dicts() == []


def test_every_request_error_has_one_entry_and_no_text_is_written_twice() -> None:
    assert set(REQUEST_ERRORS) == set(RequestError)
    texts = [msg for _, msg, _ in REQUEST_ERRORS.values()] + [msg for _, msg in BINANCE_ERRORS.values()]
    twice = {t for t in texts if texts.count(t) > 1 and "%s" not in t}
    # the halt texts differ only in what fills %s; everything else appears once across both tables
    assert twice == set()


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (mandatory("symbol"), (-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.", 400)),
        (invalid_enum("side"), (-1117, "Invalid side.", 400)),
        (invalid_enum("format"), (-1118, "Invalid format.", 400)),
        (
            ApiError.of(RequestError.ILLEGAL_RANGE, name="orderId", legal="^[0-9]{1,20}$"),
            (-1100, "Illegal characters found in parameter 'orderId'; legal range is '^[0-9]{1,20}$'.", 400),
        ),
        (ApiError.of(RequestError.REJECTED_KEY), (-2015, "Invalid API-key, IP, or permissions for action.", 401)),
        (
            ApiError.of(RequestError.TOO_MANY_ORDERS, limit=50, interval="10 SECOND"),
            (-1015, "Too many new orders; current limit is 50 orders per 10 SECOND.", 429),
        ),
    ],
)
def test_answers_carry_binance_code_text_and_status(err: ApiError, expected: tuple[int, str, int]) -> None:
    """ccxt maps errors by exact text first, so the filled-in texts are pinned."""
    assert (err.code, err.msg, err.status) == expected


def test_order_flow_refusals_read_the_same_table() -> None:
    from gateway.binance_errors import INSUFFICIENT_BALANCE, INVALID_SYMBOL

    assert (OrderRefused.of(INVALID_SYMBOL).code, OrderRefused.of(INVALID_SYMBOL).msg) == (-1121, "Invalid symbol.")
    refused = OrderRefused.of(INSUFFICIENT_BALANCE)
    # ccxt raises InsufficientFunds on exactly this text
    assert refused.msg == "Account has insufficient balance for requested action."
    assert binance_error(INVALID_SYMBOL) == (-1121, "Invalid symbol.", 400)
