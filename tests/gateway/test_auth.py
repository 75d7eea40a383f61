"""Login, token rotation, lockout and flood limits through the gateway's ASGI app."""

from __future__ import annotations

import base64
import json
import uuid

import httpx
import jwt
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from services.gateway.models import User
from services.gateway.tokens import ARGON2_MEMORY_KIB, AccessClaims, TokenError, TokenSigner, needs_rehash
from services.platform import clock
from services.platform.database import Database
from tests.gateway.conftest import PASSWORD, TEST_SECRET, bearer, login

PROBLEM = "application/problem+json"


async def test_login_returns_tokens_that_authenticate(gateway: httpx.AsyncClient, users: dict[str, uuid.UUID]) -> None:
    response = await login(gateway, "dispatcher")

    assert response.status_code == 200
    body = response.json()
    assert body["role"] == "dispatcher"
    me = await gateway.get("/api/v1/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["username"] == "dispatcher"


async def test_a_hash_made_with_older_parameters_still_logs_in_and_is_replaced_by_todays(
    gateway: httpx.AsyncClient, users: dict[str, uuid.UUID], database: Database
) -> None:
    # argon2-cffi's own default (64 MiB, 3 passes, 4 lanes): what every hash stored before the change was made with.
    older = PasswordHasher().hash(PASSWORD)
    async with database.session() as session:
        user = (await session.execute(select(User).where(User.username == "sre"))).scalar_one()
        user.password_hash = older
    assert needs_rehash(older)

    assert (await login(gateway, "sre", "wrong")).status_code == 401
    async with database.session() as session:
        assert (await session.execute(select(User.password_hash).where(User.username == "sre"))).scalar_one() == older

    assert (await login(gateway, "sre")).status_code == 200
    async with database.session() as session:
        stored = (await session.execute(select(User.password_hash).where(User.username == "sre"))).scalar_one()
    assert stored != older
    assert f"m={ARGON2_MEMORY_KIB}," in stored
    assert not needs_rehash(stored)
    assert (await login(gateway, "sre")).status_code == 200


async def test_wrong_password_is_401_problem(gateway: httpx.AsyncClient, users: dict[str, uuid.UUID]) -> None:
    response = await login(gateway, "dispatcher", "wrong")

    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == 401


async def test_unknown_user_gets_the_same_answer_as_a_wrong_password(
    gateway: httpx.AsyncClient, users: dict[str, uuid.UUID]
) -> None:
    unknown = await login(gateway, "nobody")
    wrong = await login(gateway, "dispatcher", "wrong")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json()["detail"] == wrong.json()["detail"]


async def test_account_locks_after_five_failures_even_for_the_right_password(
    gateway: httpx.AsyncClient, users: dict[str, uuid.UUID]
) -> None:
    statuses = [(await login(gateway, "driver", "wrong")).status_code for _ in range(5)]
    locked = await login(gateway, "driver", PASSWORD)

    assert statuses == [401, 401, 401, 401, 423]
    assert locked.status_code == 423
    assert int(locked.headers["Retry-After"]) > 0
    assert (await login(gateway, "sre")).status_code == 200  # other accounts are unaffected


async def test_refresh_rotates_and_a_reused_token_revokes_the_login(
    gateway: httpx.AsyncClient, users: dict[str, uuid.UUID]
) -> None:
    first = (await login(gateway, "dispatcher")).json()["refresh_token"]

    rotated = await gateway.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200
    second = rotated.json()["refresh_token"]
    assert second != first

    reused = await gateway.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert reused.status_code == 401
    # The thief's reuse also ends the legitimate holder's session: the whole family is revoked.
    after = await gateway.post("/api/v1/auth/refresh", json={"refresh_token": second})
    assert after.status_code == 401


async def test_logout_revokes_the_refresh_token(gateway: httpx.AsyncClient, users: dict[str, uuid.UUID]) -> None:
    pair = (await login(gateway, "dispatcher")).json()

    out = await gateway.post(
        "/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]}, headers=bearer(pair["access_token"])
    )

    assert out.status_code == 204
    refreshed = await gateway.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 401


async def test_after_logout_the_access_token_is_refused_at_once_and_other_sessions_go_on(
    gateway: httpx.AsyncClient, users: dict[str, uuid.UUID]
) -> None:
    phone = (await login(gateway, "dispatcher")).json()
    desk = (await login(gateway, "dispatcher")).json()

    out = await gateway.post(
        "/api/v1/auth/logout", json={"refresh_token": phone["refresh_token"]}, headers=bearer(phone["access_token"])
    )
    again = await gateway.post(
        "/api/v1/auth/logout", json={"refresh_token": phone["refresh_token"]}, headers=bearer(phone["access_token"])
    )

    assert out.status_code == 204
    refused = await gateway.get("/api/v1/auth/me", headers=bearer(phone["access_token"]))
    assert refused.status_code == again.status_code == 401
    assert "revoked" in refused.json()["detail"]
    assert (await gateway.get("/api/v1/auth/me", headers=bearer(desk["access_token"]))).status_code == 200


async def test_logout_everywhere_ends_every_session_of_the_user_and_a_new_login_works(
    gateway: httpx.AsyncClient, users: dict[str, uuid.UUID]
) -> None:
    phone = (await login(gateway, "dispatcher")).json()
    desk = (await login(gateway, "dispatcher")).json()
    someone_else = (await login(gateway, "admin")).json()

    out = await gateway.post("/api/v1/auth/logout-all", headers=bearer(desk["access_token"]))
    fresh = (await login(gateway, "dispatcher")).json()

    assert out.status_code == 204
    for session in (phone, desk):
        assert (await gateway.get("/api/v1/auth/me", headers=bearer(session["access_token"]))).status_code == 401
        refreshed = await gateway.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
        assert refreshed.status_code == 401
    for session in (fresh, someone_else):
        assert (await gateway.get("/api/v1/auth/me", headers=bearer(session["access_token"]))).status_code == 200


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_token_with_alg_none_is_rejected(gateway: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    claims = jwt.decode(tokens["dispatcher"], options={"verify_signature": False})
    claims["role"] = "admin"
    forged = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."

    response = await gateway.get("/api/v1/auth/me", headers=bearer(forged))

    assert response.status_code == 401


async def test_token_signed_with_another_key_is_rejected(gateway: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    claims = jwt.decode(tokens["dispatcher"], options={"verify_signature": False})
    forged = jwt.encode(claims, "some-other-secret-of-sufficient-length!!", algorithm="HS256")

    response = await gateway.get("/api/v1/auth/me", headers=bearer(forged))

    assert response.status_code == 401
    assert "not issued by this platform" in response.json()["detail"]


@pytest.mark.parametrize("garbage", ["not-a-token", "a.b.c", "_w.e30.c2ln", "eyJhbGciOiJIUzI1NiJ9.e30"])
async def test_garbage_token_is_401_saying_it_is_not_ours_in_plain_words(
    gateway: httpx.AsyncClient, garbage: str
) -> None:
    response = await gateway.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {garbage}"})

    assert response.status_code == 401
    detail = response.json()["detail"]
    assert detail.startswith("the access token is not valid: it is not a token this platform issued"), detail


async def test_expired_access_token_is_rejected(gateway: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    claims = jwt.decode(tokens["dispatcher"], options={"verify_signature": False})
    claims["exp"] = int(clock.timestamp()) - 5
    expired = jwt.encode(claims, TEST_SECRET, algorithm="HS256")

    response = await gateway.get("/api/v1/auth/me", headers=bearer(expired))

    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    assert "POST /api/v1/auth/refresh" in response.json()["detail"]


async def test_refresh_token_is_not_an_access_token(gateway: httpx.AsyncClient, users: dict[str, uuid.UUID]) -> None:
    refresh = (await login(gateway, "dispatcher")).json()["refresh_token"]
    assert (await gateway.get("/api/v1/auth/me", headers=bearer(refresh))).status_code == 401


async def test_login_flood_is_limited_across_gateway_processes(
    make_gateway, customer_server: int, redis_client: object, users: dict[str, uuid.UUID]
) -> None:
    # Two gateway apps share nothing but Redis; the limit of 4 per window holds across them.
    one = await make_gateway(f"127.0.0.1:{customer_server}", login_attempts_per_window=4)
    two = await make_gateway(f"127.0.0.1:{customer_server}", login_attempts_per_window=4)

    statuses = [(await login(client, "nobody", "x")).status_code for client in (one, two, one, two, one, two)]

    assert statuses == [401, 401, 401, 401, 429, 429]
    limited = await login(two, "dispatcher")
    assert limited.status_code == 429
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["content-type"] == PROBLEM


async def test_token_issued_in_the_future_is_rejected(gateway: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    claims = jwt.decode(tokens["dispatcher"], options={"verify_signature": False})
    claims["iat"] = int(clock.timestamp()) + 3600
    early = jwt.encode(claims, TEST_SECRET, algorithm="HS256")

    response = await gateway.get("/api/v1/auth/me", headers=bearer(early))

    assert response.status_code == 401


def test_tokens_follow_the_platforms_clock_when_it_is_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    """A platform run a year back (or ahead) issues tokens that its own clock accepts and expires."""
    signer = TokenSigner(TEST_SECRET, access_seconds=600, refresh_seconds=3600)
    claims = AccessClaims(uuid.uuid4(), "dispatcher", "dispatcher", None)
    try:
        for offset in (-365 * 86_400, 365 * 86_400):
            monkeypatch.setenv(clock.OFFSET_VARIABLE, str(offset))
            clock.offset_seconds.cache_clear()
            read = signer.read_access(signer.access_token(claims))
            assert (read.user_id, read.username, round(read.expires_at - read.issued_at)) == (
                claims.user_id,
                "dispatcher",
                600,
            )
            assert abs(read.issued_at - clock.timestamp()) < 60
            stale = jwt.decode(signer.access_token(claims), options={"verify_signature": False})
            stale["exp"] = int(clock.timestamp()) - 1
            with pytest.raises(TokenError, match="expired"):
                signer.read_access(jwt.encode(stale, TEST_SECRET, algorithm="HS256"))
    finally:
        monkeypatch.undo()
        clock.offset_seconds.cache_clear()
