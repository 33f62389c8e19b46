"""Binance error answers: ``{"code": ..., "msg": ...}`` with ``Content-Type: application/json``.

Codes, texts and HTTP statuses come from the one table in :mod:`gateway.binance_errors`; HTTP statuses
follow Binance: 400 for bad requests, 401 for key and permission problems, 429/418 for rate limits, 404
for unknown paths.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson
import structlog
from aiohttp import web

from gateway.binance_errors import INVALID_SYMBOL, MANDATORY, UNKNOWN_ORDER, RequestError, binance_error
from router.reasons import Reason

log = structlog.get_logger(__name__)


class ApiError(Exception):
    """An answer, not a failure: raised anywhere in a handler, turned into the JSON error by the middleware.

    Build it with :meth:`of` from the one table (:mod:`gateway.binance_errors`); the constructor is for
    refusals that already carry a code and text (the order flow's, custody's, the KYC webhooks').
    """

    def __init__(self, code: int, msg: str, status: int = 400, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = dict(headers or {})

    @classmethod
    def of(
        cls,
        key: RequestError | Reason,
        detail: str = "",
        *,
        headers: Mapping[str, str] | None = None,
        **fields: object,
    ) -> ApiError:
        """The table's answer for ``key`` (see :func:`gateway.binance_errors.binance_error`)."""
        code, msg, status = binance_error(key, detail, **fields)
        return cls(code, msg, status=status, headers=headers)


def json_response(body: object, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json", headers=headers)


def error_response(err: ApiError) -> web.Response:
    return json_response({"code": err.code, "msg": err.msg}, status=err.status, headers=err.headers)


# --- shorthands for the answers raised in many places ---
def unknown_error() -> ApiError:
    return ApiError.of(RequestError.UNKNOWN)


def mandatory(name: str) -> ApiError:
    return ApiError.of(MANDATORY, name)


def illegal(name: str) -> ApiError:
    return ApiError.of(RequestError.ILLEGAL_RANGE, name=name, legal="^[0-9]{1,20}$")


def bad_value(name: str) -> ApiError:
    return ApiError.of(RequestError.ILLEGAL_CHARS, name=name)


_ENUM_ERRORS = {
    "type": RequestError.INVALID_ORDER_TYPE,
    "side": RequestError.INVALID_SIDE,
    "timeInForce": RequestError.INVALID_TIME_IN_FORCE,
}


def invalid_enum(name: str) -> ApiError:
    return ApiError.of(_ENUM_ERRORS.get(name, RequestError.INVALID_VALUE), name=name)


def invalid_symbol() -> ApiError:
    return ApiError.of(INVALID_SYMBOL)


def not_found_path() -> ApiError:
    return ApiError.of(RequestError.NOT_FOUND)


def bad_key_format() -> ApiError:
    return ApiError.of(RequestError.BAD_KEY_FORMAT)


def rejected_key() -> ApiError:
    return ApiError.of(RequestError.REJECTED_KEY)


def bad_signature() -> ApiError:
    return ApiError.of(RequestError.BAD_SIGNATURE)


def replayed() -> ApiError:
    return ApiError.of(RequestError.REPLAYED_SIGNATURE)


def stale_timestamp() -> ApiError:
    return ApiError.of(RequestError.STALE_TIMESTAMP)


def future_timestamp() -> ApiError:
    return ApiError.of(RequestError.FUTURE_TIMESTAMP)


def bad_recv_window() -> ApiError:
    return ApiError.of(RequestError.BAD_RECV_WINDOW)


def unknown_order() -> ApiError:
    return ApiError.of(RequestError.ORDER_DOES_NOT_EXIST)


def unknown_cancel() -> ApiError:
    return ApiError.of(UNKNOWN_ORDER)


def bad_listen_key() -> ApiError:
    return ApiError.of(RequestError.BAD_LISTEN_KEY)


@web.middleware
async def error_middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
    try:
        return await handler(request)
    except ApiError as err:
        return error_response(err)
    except web.HTTPNotFound:
        return error_response(not_found_path())
    except web.HTTPRequestEntityTooLarge:  # a body past aiohttp's client_max_size (a JSON or multipart read)
        return error_response(ApiError.of(RequestError.BODY_TOO_LARGE))
    except web.HTTPMethodNotAllowed as exc:  # Allow names what the path takes (RFC 9110)
        return error_response(
            ApiError.of(RequestError.METHOD_NOT_ALLOWED, headers={"Allow": ", ".join(sorted(exc.allowed_methods))})
        )
    except web.HTTPException:
        raise
    except Exception:  # the execution status is unknown to the client: say so the Binance way (5xx)
        log.exception("api_unhandled", path=request.path)
        return error_response(unknown_error())
