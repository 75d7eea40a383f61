"""ASGI middleware of the gateway: request-body size limit, and tracing, metrics and access logs per request."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import MutableMapping, Sequence
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_REQUESTS = Counter(
    "luckygas_gateway_http_requests_total", "HTTP requests answered by the gateway.", ["method", "route", "status"]
)
HTTP_SECONDS = Histogram(
    "luckygas_gateway_http_request_seconds",
    "Time the gateway took to answer an HTTP request.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

access_log = logging.getLogger("luckygas.access")


class BodyTooLarge(HTTPException):
    """A streamed body passed the limit while the app was reading it. An HTTPException, because FastAPI's body
    parsing re-raises those (any other error there becomes "400 error parsing the body"): the handler answers 413."""

    def __init__(self, detail: str) -> None:
        super().__init__(413, detail)


async def _send_problem(send: Send, status: int, title: str, detail: str) -> None:
    body = json.dumps(
        {
            "type": "https://luckygas.example/problems/payload-too-large",
            "title": title,
            "status": status,
            "detail": detail,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodySizeLimit:
    """Refuse bodies over the limit with 413 before the app reads them, declared length or streamed.

    ``larger`` lists path patterns (full match) allowed a bigger body, e.g. delivery proofs with photos.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, larger: Sequence[tuple[str, int]] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = [(re.compile(pattern), limit) for pattern, limit in larger]

    def limit_for(self, path: str) -> int:
        return next((limit for pattern, limit in self.larger if pattern.fullmatch(path)), self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        detail = f"the request body is larger than {limit} bytes"
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_problem(send, 413, "Payload too large", detail)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(detail)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _send_problem(send, 413, "Payload too large", detail)


# The API docs page (Swagger UI) is the only HTML: its script, styles and icon come from the gateway itself, and it
# starts Swagger UI with an inline script; nothing else may load, frame it, or be posted from it.
HTML_POLICY = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


class SecurityHeaders:
    """Every response says what it is (no content sniffing); HTML carries a Content-Security-Policy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                content_type = dict(headers).get(b"content-type", b"")
                if content_type.startswith(b"text/html"):
                    headers.append((b"content-security-policy", HTML_POLICY.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class Observability:
    """RED metrics by route template and a JSON access log line per request.

    FastAPI itself opens the server span (continuing W3C traceparent) around the middleware stack,
    so the log line carries that trace's ids.
    """

    def __init__(self, app: ASGIApp, access_log_enabled: bool = True) -> None:
        self.app = app
        self.access_log_enabled = access_log_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        status = 500
        started = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = _route_template(scope)
            elapsed = time.perf_counter() - started
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_SECONDS.labels(method, route).observe(elapsed)
            if self.access_log_enabled:
                access_log.info(
                    "http",
                    extra={
                        "method": method,
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                    },
                )


def _route_template(scope: MutableMapping[str, Any]) -> str:
    """The matched route's path template; unmatched paths share one label so cardinality stays bounded."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
