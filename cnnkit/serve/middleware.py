"""ASGI middleware: a request body larger than the limit gets ``413 {"error": ...}``.

A declared ``Content-Length`` over the limit is answered at once, without reading the body;
a body without one (chunked) is counted as it arrives and refused when it passes the limit.
"""
from __future__ import annotations

import json

from starlette.exceptions import HTTPException

__all__ = ["BodyLimit", "BodyTooLarge", "too_large_message"]


def too_large_message(limit: int) -> str:
    return (f"the request body is over the limit of {limit / 2 ** 20:.3g} MiB "
            f"(start the server with --max-body-mb to change it)")


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, too_large_message(limit))


class BodyLimit:
    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            body = json.dumps({"error": too_large_message(self.max_bytes)}).encode()
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                    (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": body})
            return
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counted, send)
