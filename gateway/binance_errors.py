"""The one table of Binance error answers the gateway gives: request errors here, order-flow reasons by reference.

Every ``{"code", "msg"}`` the API sends comes from :func:`binance_error`. Request-level problems (parameters,
keys, signatures, rate limits, capital endpoints) are :class:`RequestError` members with their code, text and
HTTP status in :data:`REQUEST_ERRORS`; order-flow refusals are :data:`router.reasons.Reason` members whose
texts live in :data:`router.reasons.BINANCE_ERRORS` (matching, risk, halts, routing, venues), so a text that
both kinds need ("Invalid symbol.", "Unknown order sent.") is written once, there.

Texts follow Binance's spot errors.md where a client reacts to them: ccxt matches the exact message, then
broad substrings, then the code; python-binance reads both. ``{name}``-style fields are filled from the
keyword details. Domain refusals raised below the gateway (custody's ``WithdrawalRefused``, the KYC
webhooks' ``WebhookRefused``) carry their own code and explanation and are passed through unchanged.
"""

from __future__ import annotations

from enum import Enum, auto

from internal_book.errors import RejectReason as MatchingReason
from router.reasons import Reason, RejectReason
from router.reasons import error_of as reason_error_of


class RequestError(Enum):
    """A request the API refuses before (or instead of) the order flow."""

    UNKNOWN = auto()
    UNAUTHORIZED = auto()
    UNAUTHORIZED_BECAUSE = auto()
    TOO_MUCH_WEIGHT = auto()
    IP_BANNED = auto()
    TOO_MANY_ORDERS = auto()
    ILLEGAL_CHARS = auto()
    ILLEGAL_RANGE = auto()
    ILLEGAL_BECAUSE = auto()
    BODY_TOO_LARGE = auto()
    HEADERS_TOO_LARGE = auto()
    MALFORMED_REQUEST = auto()
    READ_TIMEOUT = auto()
    TOO_MANY_CONNECTIONS = auto()
    DUPLICATE_PARAM = auto()
    INVALID_INTERVAL = auto()
    INVALID_ORDER_TYPE = auto()
    INVALID_SIDE = auto()
    INVALID_TIME_IN_FORCE = auto()
    INVALID_VALUE = auto()
    ONE_OF_MANDATORY = auto()
    NOT_FOUND = auto()
    METHOD_NOT_ALLOWED = auto()
    WEBSOCKET_ONLY = auto()
    WS_INVALID_JSON = auto()
    STREAM_INVALID_JSON = auto()
    STREAM_NOT_AN_OBJECT = auto()
    STREAM_BAD_PARAMS = auto()
    STREAM_UNKNOWN = auto()
    STREAM_UNKNOWN_METHOD = auto()
    STREAM_INVALID_REQUEST = auto()
    WS_INVALID_REQUEST = auto()
    WS_UNKNOWN_METHOD = auto()
    BAD_KEY_FORMAT = auto()
    REJECTED_KEY = auto()
    BAD_SIGNATURE = auto()
    REPLAYED_SIGNATURE = auto()
    STALE_TIMESTAMP = auto()
    FUTURE_TIMESTAMP = auto()
    BAD_RECV_WINDOW = auto()
    ORDER_DOES_NOT_EXIST = auto()
    ORDER_REJECTED = auto()
    BAD_LISTEN_KEY = auto()
    CAPITAL_DISABLED = auto()
    COIN_NOT_ON_NETWORK = auto()
    COIN_DISABLED = auto()
    CAPITAL_REFUSED = auto()
    KYC_WEBHOOKS_OFF = auto()
    TAX_REPORT_UNAVAILABLE = auto()
    OPERATOR_SESSION_REQUIRED = auto()
    OPERATOR_ACTION_REFUSED = auto()
    TREASURY_OFF = auto()
    TRAVEL_RULE_OFF = auto()
    DEPOSIT_UNKNOWN = auto()
    TRAVEL_RULE_REFUSED = auto()


# member -> (Binance code, message, HTTP status)
REQUEST_ERRORS: dict[RequestError, tuple[int, str, int]] = {
    RequestError.UNKNOWN: (-1000, "An unknown error occurred while processing the request.", 500),
    RequestError.UNAUTHORIZED: (-1002, "You are not authorized to execute this request.", 401),
    RequestError.UNAUTHORIZED_BECAUSE: (-1002, "You are not authorized to execute this request: {reason}.", 401),
    RequestError.TOO_MUCH_WEIGHT: (
        -1003,
        (
            "Too much request weight used; current limit is {limit} request weight per 1 MINUTE. "
            "Please use WebSocket Streams for live updates to avoid polling the API."
        ),
        429,
    ),
    RequestError.IP_BANNED: (
        -1003,
        (
            "Way too much request weight used; IP banned until {until}. "
            "Please use WebSocket Streams for live updates to avoid bans."
        ),
        418,
    ),
    RequestError.TOO_MANY_ORDERS: (-1015, "Too many new orders; current limit is {limit} orders per {interval}.", 429),
    RequestError.ILLEGAL_CHARS: (-1100, "Illegal characters found in parameter '{name}'.", 400),
    RequestError.ILLEGAL_RANGE: (
        -1100,
        "Illegal characters found in parameter '{name}'; legal range is '{legal}'.",
        400,
    ),
    RequestError.ILLEGAL_BECAUSE: (-1100, "Illegal characters found in parameter '{name}': {reason}.", 400),
    RequestError.BODY_TOO_LARGE: (-1104, "Request body too large.", 400),
    RequestError.HEADERS_TOO_LARGE: (-1104, "Request URL or headers too large.", 431),
    RequestError.MALFORMED_REQUEST: (-1104, "Malformed HTTP request.", 400),
    RequestError.READ_TIMEOUT: (-1104, "Request not received in time.", 408),
    RequestError.TOO_MANY_CONNECTIONS: (
        -1003,
        "Too many new WebSocket connections; current limit is {limit} connections per 5 MINUTE.",
        429,
    ),
    RequestError.DUPLICATE_PARAM: (-1101, "Duplicate values for a parameter detected.", 400),
    RequestError.INVALID_INTERVAL: (-1120, "Invalid interval.", 400),
    RequestError.INVALID_ORDER_TYPE: (-1116, "Invalid orderType.", 400),
    RequestError.INVALID_SIDE: (-1117, "Invalid side.", 400),
    RequestError.INVALID_TIME_IN_FORCE: (-1115, "Invalid timeInForce.", 400),
    RequestError.INVALID_VALUE: (-1118, "Invalid {name}.", 400),
    RequestError.ONE_OF_MANDATORY: (
        -1102,
        "Param '{first}' or '{second}' must be sent, but both were empty/null!",
        400,
    ),
    RequestError.NOT_FOUND: (-1, "Not found.", 404),
    RequestError.METHOD_NOT_ALLOWED: (-1, "Method not allowed.", 405),
    RequestError.WEBSOCKET_ONLY: (-1, "This endpoint takes a WebSocket upgrade request.", 400),
    RequestError.WS_INVALID_JSON: (-1102, "Invalid JSON.", 400),
    # /ws and /stream requests (SUBSCRIBE, ...) are answered with Binance's stream error codes (0-3)
    RequestError.STREAM_INVALID_JSON: (3, "Invalid JSON: expected value at line 1 column 1", 400),
    RequestError.STREAM_NOT_AN_OBJECT: (2, "Invalid request: a request is a JSON object", 400),
    RequestError.STREAM_BAD_PARAMS: (1, "Invalid value type: params must be a list of stream names", 400),
    RequestError.STREAM_UNKNOWN: (2, "Invalid request: unknown stream {stream}", 400),
    RequestError.STREAM_UNKNOWN_METHOD: (1, "Invalid request: unknown method", 400),
    RequestError.STREAM_INVALID_REQUEST: (2, "Invalid request.", 400),
    RequestError.WS_INVALID_REQUEST: (-1102, "Invalid request: a JSON object whose 'params' is an object.", 400),
    RequestError.WS_UNKNOWN_METHOD: (-1100, "Unknown method {method}.", 400),
    RequestError.BAD_KEY_FORMAT: (-2014, "API-key format invalid.", 401),
    RequestError.REJECTED_KEY: (-2015, "Invalid API-key, IP, or permissions for action.", 401),
    RequestError.BAD_SIGNATURE: (-1022, "Signature for this request is not valid.", 400),
    RequestError.REPLAYED_SIGNATURE: (-1022, "Signature for this request was already used.", 400),
    RequestError.STALE_TIMESTAMP: (-1021, "Timestamp for this request is outside of the recvWindow.", 400),
    RequestError.FUTURE_TIMESTAMP: (-1021, "Timestamp for this request was 1000ms ahead of the server's time.", 400),
    RequestError.BAD_RECV_WINDOW: (-1131, "recvWindow must be less than 60000", 400),
    RequestError.ORDER_DOES_NOT_EXIST: (-2013, "Order does not exist.", 400),
    RequestError.ORDER_REJECTED: (-2010, "Order rejected.", 400),
    RequestError.BAD_LISTEN_KEY: (-1125, "This listenKey does not exist.", 400),
    RequestError.CAPITAL_DISABLED: (-4019, "Deposits and withdrawals are not enabled on this server.", 400),
    RequestError.COIN_NOT_ON_NETWORK: (-4019, "{coin} is not supported on network {network}.", 400),
    RequestError.COIN_DISABLED: (-4019, "{coin} cannot be deposited or withdrawn.", 400),
    RequestError.CAPITAL_REFUSED: (-4019, "Deposit address cannot be given: {reason}.", 400),
    RequestError.KYC_WEBHOOKS_OFF: (-1000, "KYC webhooks are not configured on this server.", 404),
    RequestError.TAX_REPORT_UNAVAILABLE: (-1100, "Tax report cannot be computed: {reason}.", 400),
    # the operators' API (/braid/v1/...): Braid's own endpoints, answered in Binance's shape
    RequestError.OPERATOR_SESSION_REQUIRED: (
        -1099,
        "Not found, unauthenticated, or unauthorized: {reason}.",
        401,
    ),
    RequestError.OPERATOR_ACTION_REFUSED: (-4000, "Operator action refused: {reason}.", 400),
    RequestError.TREASURY_OFF: (
        -1000,
        "The treasury is not configured on this server (BRAID_TREASURY__ACCOUNTS).",
        404,
    ),
    RequestError.TRAVEL_RULE_OFF: (-4019, "Travel Rule details are not taken on this server.", 400),
    RequestError.DEPOSIT_UNKNOWN: (-4027, "No deposit {deposit} on this account.", 400),
    RequestError.TRAVEL_RULE_REFUSED: (-4041, "Travel Rule details refused: {reason}.", 400),
}

# Order-flow reasons the gateway raises itself (the rest reach it inside router/engine rejections).
INVALID_SYMBOL = MatchingReason.MATCHING_UNKNOWN_SYMBOL
UNKNOWN_ORDER = MatchingReason.MATCHING_UNKNOWN_ORDER
MANDATORY = MatchingReason.MATCHING_MANDATORY_PARAM
UNSUPPORTED_COMBINATION = MatchingReason.MATCHING_UNSUPPORTED_COMBINATION
INSUFFICIENT_BALANCE = RejectReason.VENUE_REJECT_INSUFFICIENT_BALANCE
BAD_PRECISION = MatchingReason.MATCHING_BAD_PRECISION
NO_REFERENCE_PRICE = RejectReason.RISK_NO_REFERENCE_PRICE


def binance_error(key: RequestError | Reason, detail: str = "", **fields: object) -> tuple[int, str, int]:
    """(code, message, HTTP status) for ``key``.

    A :class:`RequestError` text is filled from ``fields``; an order-flow reason's ``%s`` from ``detail``
    (the parameter name for matching reasons), and it is always answered with HTTP 400.
    """
    if isinstance(key, RequestError):
        code, text, status = REQUEST_ERRORS[key]
        return code, text.format(**fields) if fields else text, status
    code, text = reason_error_of(key, detail)
    return code, text, 400
