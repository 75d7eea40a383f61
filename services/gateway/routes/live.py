"""``/api/v1/live``: the WebSocket feed of order and delivery events for office users."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect

from services.gateway.context import GatewayContext
from services.gateway.live import (
    CLOSE_TOO_SLOW,
    LIVE_POSITIONS_SENT,
    LIVE_SENT,
    LiveClient,
    LiveEvent,
    LiveHub,
    LivePosition,
    observe_position_delay,
)
from services.gateway.revocations import Revocations
from services.gateway.security import ADMIN, CUSTOMER, DISPATCHER
from services.gateway.tokens import AccessClaims, TokenError

router = APIRouter(tags=["live"])

LIVE_ROLES = frozenset({ADMIN, DISPATCHER, CUSTOMER})
# Who sees drivers move: the office. A customer sees events about its own orders only.
POSITION_ROLES = frozenset({ADMIN, DISPATCHER})
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_BAD_CURSOR = 4400
SLOW_CLOSE_SECONDS = 2.0
# How often an open socket asks whether its token was revoked: a logged-out session stops seeing events this soon.
REVOCATION_CHECK_SECONDS = 2.0


def visibility(claims: AccessClaims) -> Any:
    """What the role may see: office users everything, a customer only events about their own orders."""
    if claims.role == CUSTOMER:
        code = claims.customer_code

        def own(message: dict[str, Any]) -> bool:
            payload = message.get("payload")
            return isinstance(payload, dict) and code is not None and payload.get("customer_code") == code

        return own
    return lambda message: True


def _entry_key(cursor: str) -> tuple[str, int, int]:
    stream, _, entry_id = cursor.rpartition("/")
    milliseconds, _, sequence = entry_id.partition("-")
    return stream, int(milliseconds), int(sequence or 0)


def _token(websocket: WebSocket, access_token: str | None) -> str | None:
    if access_token:
        return access_token
    header = websocket.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    return credentials if scheme.lower() == "bearer" and credentials else None


class _Socket:
    """One client's socket: one frame at a time (events and positions are sent by two tasks), and each event at
    most once (one sent during the replay is not sent again when it also arrives live)."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self._sent: dict[str, tuple[str, int, int]] = {}
        self._sending = asyncio.Lock()

    def resume_after(self, cursor: str) -> None:
        stream, *_ = _entry_key(cursor)
        self._sent.setdefault(stream, _entry_key(cursor))

    async def event(self, event: LiveEvent) -> None:
        key = _entry_key(event.cursor)
        if key <= self._sent.get(event.stream, ("", -1, -1)):
            return  # already sent during the replay
        self._sent[event.stream] = key
        async with self._sending:
            await self.websocket.send_text(event.text)
        LIVE_SENT.inc()

    async def position(self, position: LivePosition) -> None:
        async with self._sending:
            await self.websocket.send_text(position.text)
        observe_position_delay(position.payload)
        LIVE_POSITIONS_SENT.inc()


@router.websocket("/api/v1/live")
async def live_feed(
    websocket: WebSocket,
    access_token: Annotated[str | None, Query(description="access token (browsers cannot set headers)")] = None,
    after: Annotated[list[str] | None, Query(description="resume after these cursors, one per stream")] = None,
) -> None:
    """Events as JSON messages, each with a ``cursor``. Reconnect with ``after=<last cursor>`` to miss nothing.

    The first message after any replay is ``{"type": "live.ready"}``: from then on nothing is missed.
    Close codes: 4401 not authenticated, 4403 role may not watch, 4400 bad cursor, 4008 fell behind.
    """
    await websocket.accept()
    context: GatewayContext = websocket.app.state.gateway
    hub: LiveHub = websocket.app.state.live
    claims = await _admit(websocket, context, _token(websocket, access_token))
    if claims is None:
        return
    accepts = visibility(claims)
    # Before the replay, so nothing falls between replay and live.
    client = hub.subscribe(accepts, positions=claims.role in POSITION_ROLES)
    socket = _Socket(websocket)
    try:
        for cursor in after or []:
            try:
                replayed = await hub.replay(cursor)
            except ValueError as error:
                await websocket.close(CLOSE_BAD_CURSOR, str(error))
                return
            socket.resume_after(cursor)
            for event in replayed:
                if accepts(event.message):
                    await socket.event(event)
        # Subscribed and caught up: from here on the client misses nothing published.
        await websocket.send_json({"type": "live.ready"})
        await _serve(socket, client, context.revocations, claims)
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        hub.unsubscribe(client)


async def _admit(websocket: WebSocket, context: GatewayContext, token: str | None) -> AccessClaims | None:
    """The socket's claims; None once the socket is closed with the reason (no valid token, revoked, wrong role)."""
    try:
        claims = context.signer.read_access(token or "")
    except TokenError:
        await websocket.close(CLOSE_UNAUTHENTICATED, "a valid access token is required")
        return None
    if await context.revocations.is_revoked(claims):
        await websocket.close(CLOSE_UNAUTHENTICATED, "the access token was revoked (logged out)")
        return None
    if claims.role not in LIVE_ROLES:
        await websocket.close(CLOSE_FORBIDDEN, f"role {claims.role} may not watch the live feed")
        return None
    return claims


async def _serve(socket: _Socket, client: LiveClient, revocations: Revocations, claims: AccessClaims) -> None:
    """Sends events and positions until the client leaves, falls behind, or its token is revoked."""

    async def follow() -> None:
        while True:
            await socket.event(await client.queue.get())

    async def follow_positions() -> None:
        # Whatever arrived while the last positions were being sent goes out next, newest per driver.
        while True:
            await client.positions_waiting.wait()
            for position in client.take_positions():
                await socket.position(position)

    following = asyncio.create_task(follow())
    positions = asyncio.create_task(follow_positions())
    disconnected = asyncio.create_task(_wait_for_disconnect(socket.websocket))
    behind = asyncio.create_task(client.fell_behind.wait())
    revoked = asyncio.create_task(_until_revoked(revocations, claims))
    try:
        done, _ = await asyncio.wait(
            {following, positions, disconnected, behind, revoked}, return_when=asyncio.FIRST_COMPLETED
        )
        failed = [sender for sender in (following, positions) if sender in done]
        if failed:
            failed[0].result()  # a failed send: re-raise it
        elif disconnected not in done:
            # Revoked, or marked behind by the hub instead of waiting for it. Give the send in progress a
            # moment; a socket that stays full means a stalled client, which is abandoned (the server then
            # drops the connection); otherwise say why we close (a client behind resumes from its cursor).
            following.cancel()
            positions.cancel()
            code, reason = (
                (CLOSE_UNAUTHENTICATED, "the access token was revoked (logged out)")
                if revoked in done
                else (CLOSE_TOO_SLOW, "fell behind; reconnect with after=<your last cursor>")
            )
            with contextlib.suppress(Exception):
                await asyncio.wait_for(socket.websocket.close(code, reason), SLOW_CLOSE_SECONDS)
    finally:
        for task in (following, positions, disconnected, behind, revoked):
            task.cancel()


async def _until_revoked(revocations: Revocations, claims: AccessClaims) -> None:
    """Returns once the socket's token is revoked (a logout, or its user's sessions ended), asked every few seconds:
    the list lives in Redis, shared with every gateway process, so there is no local event to wait on."""
    while not await revocations.is_revoked(claims):  # noqa: ASYNC110 - polling another process's state
        await asyncio.sleep(REVOCATION_CHECK_SECONDS)


async def _wait_for_disconnect(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
