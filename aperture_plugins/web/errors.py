"""JSON error answers of the HTTP surface: ``{"error": CODE, "message": …, "hints": […]}``,
the same shape as the CLI's ``--json`` errors. Never a traceback, never a secret."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


class JSONHTTPError(HTTPException):
    """An HTTP error answered as JSON by the app's handler (raise it from any route)."""

    def __init__(
        self,
        status_code: int,
        error: str,
        message: str,
        *,
        hints: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status_code, message, dict(headers) if headers else None)
        self.error = error
        self.message = message
        self.hints = tuple(hints)


def error_response(
    status_code: int,
    error: str,
    message: str,
    *,
    hints: Sequence[str] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "message": message, "hints": list(hints)},
        status_code=status_code,
        headers=dict(headers) if headers else None,
    )


_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
}


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette's exception handler for :class:`HTTPException`: JSON instead of plain text."""
    assert isinstance(exc, HTTPException)
    if isinstance(exc, JSONHTTPError):
        return error_response(exc.status_code, exc.error, exc.message, hints=exc.hints, headers=exc.headers)
    code = _CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)
