"""Reading a request body with a size limit, for every route that takes one.

A declared ``Content-Length`` above the limit is refused before anything is read; otherwise the
body is read as it streams (chunked bodies included) and refused as soon as it passes the limit,
so a client that lies about the length, or sends without end, costs at most ``limit`` bytes.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request


async def read_limited(
    request: Request,
    limit: int,
    *,
    too_large: Callable[[], Exception],
    bad_length: Callable[[], Exception],
) -> bytes:
    """The body, at most ``limit`` bytes; raises ``too_large()`` beyond it and ``bad_length()``
    for a ``Content-Length`` that is not a number (each route answers in its own terms)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise bad_length()
        if int(declared) > limit:
            raise too_large()
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise too_large()
    return bytes(body)
