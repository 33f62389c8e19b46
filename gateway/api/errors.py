"""Binance error answers: ``{"code": ..., "msg": ...}`` with ``Content-Type: application/json``.

Texts follow Binance's errors.md where a client reacts to them (ccxt matches the message first, then the
code; python-binance reads both). HTTP statuses follow Binance: 400 for bad requests, 401 for key and
permission problems, 429/418 for rate limits, 404 for unknown paths.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson
import structlog
from aiohttp import web

log = structlog.get_logger(__name__)


class ApiError(Exception):
    """An answer, not a failure: raised anywhere in a handler, turned into the JSON error by the middleware."""

    def __init__(self, code: int, msg: str, status: int = 400, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = dict(headers or {})


def json_response(body: object, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json", headers=headers)


def error_response(err: ApiError) -> web.Response:
    return json_response({"code": err.code, "msg": err.msg}, status=err.status, headers=err.headers)


# --- the errors the API raises itself (order-flow errors come from router.reasons.error_of) ---
def unknown_error() -> ApiError:
    return ApiError(-1000, "An unknown error occurred while processing the request.", status=500)


def mandatory(name: str) -> ApiError:
    return ApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def illegal(name: str) -> ApiError:
    return ApiError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.")


def bad_value(name: str) -> ApiError:
    return ApiError(-1100, f"Illegal characters found in parameter '{name}'.")


def invalid_enum(name: str) -> ApiError:
    return ApiError(
        -1116 if name == "type" else -1117 if name == "side" else -1115 if name == "timeInForce" else -1118,
        {"type": "Invalid orderType.", "side": "Invalid side.", "timeInForce": "Invalid timeInForce."}.get(
            name, f"Invalid {name}."
        ),
    )


def invalid_symbol() -> ApiError:
    return ApiError(-1121, "Invalid symbol.")


def not_found_path() -> ApiError:
    return ApiError(-1, "Not found.", status=404)


def bad_key_format() -> ApiError:
    return ApiError(-2014, "API-key format invalid.", status=401)


def rejected_key() -> ApiError:
    return ApiError(-2015, "Invalid API-key, IP, or permissions for action.", status=401)


def bad_signature() -> ApiError:
    return ApiError(-1022, "Signature for this request is not valid.")


def replayed() -> ApiError:
    return ApiError(-1022, "Signature for this request was already used.")


def stale_timestamp() -> ApiError:
    return ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")


def future_timestamp() -> ApiError:
    return ApiError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")


def bad_recv_window() -> ApiError:
    return ApiError(-1131, "recvWindow must be less than 60000")


def unknown_order() -> ApiError:
    return ApiError(-2013, "Order does not exist.")


def unknown_cancel() -> ApiError:
    return ApiError(-2011, "Unknown order sent.")


def bad_listen_key() -> ApiError:
    return ApiError(-1125, "This listenKey does not exist.")


@web.middleware
async def error_middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
    try:
        return await handler(request)
    except ApiError as err:
        return error_response(err)
    except web.HTTPNotFound:
        return error_response(not_found_path())
    except web.HTTPMethodNotAllowed as exc:  # Allow names what the path takes (RFC 9110)
        return error_response(
            ApiError(-1, "Method not allowed.", status=405, headers={"Allow": ", ".join(sorted(exc.allowed_methods))})
        )
    except web.HTTPException:
        raise
    except Exception:  # the execution status is unknown to the client: say so the Binance way (5xx)
        log.exception("api_unhandled", path=request.path)
        return error_response(unknown_error())
