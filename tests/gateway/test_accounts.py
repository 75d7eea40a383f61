"""A password change and an admin disabling a user end every session of that user at once."""

from __future__ import annotations

import uuid

import httpx

from tests.gateway.conftest import PASSWORD, bearer, login

NEW_PASSWORD = "a new passphrase for the desk"


async def me(gateway: httpx.AsyncClient, session: dict[str, str]) -> int:
    return (await gateway.get("/api/v1/auth/me", headers=bearer(session["access_token"]))).status_code


async def refreshed(gateway: httpx.AsyncClient, session: dict[str, str]) -> int:
    return (await gateway.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})).status_code


async def test_a_password_change_ends_every_session_and_only_the_new_password_logs_in(
    gateway: httpx.AsyncClient, users: dict[str, uuid.UUID]
) -> None:
    phone = (await login(gateway, "dispatcher")).json()
    desk = (await login(gateway, "dispatcher")).json()
    someone_else = (await login(gateway, "admin")).json()
    change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}

    changed = await gateway.post("/api/v1/auth/password", json=change, headers=bearer(desk["access_token"]))

    assert changed.status_code == 204, changed.text
    for session in (phone, desk):
        assert await me(gateway, session) == 401
        assert await refreshed(gateway, session) == 401
    assert (await login(gateway, "dispatcher")).status_code == 401
    fresh = await login(gateway, "dispatcher", NEW_PASSWORD)
    assert fresh.status_code == 200
    assert await me(gateway, fresh.json()) == 200
    assert await me(gateway, someone_else) == 200


async def test_repeating_a_password_change_that_went_through_changes_nothing(
    gateway: httpx.AsyncClient, users: dict[str, uuid.UUID]
) -> None:
    first = (await login(gateway, "dispatcher")).json()
    change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert (await gateway.post("/api/v1/auth/password", json=change, headers=bearer(first["access_token"]))).is_success
    second = (await login(gateway, "dispatcher", NEW_PASSWORD)).json()

    again = await gateway.post("/api/v1/auth/password", json=change, headers=bearer(second["access_token"]))

    assert again.status_code == 204, again.text
    assert await me(gateway, second) == 200, "a retried change ends no session"
    assert (await login(gateway, "dispatcher", NEW_PASSWORD)).status_code == 200


async def test_a_wrong_current_password_or_a_short_new_one_is_422_naming_the_field_and_changes_nothing(
    gateway: httpx.AsyncClient, users: dict[str, uuid.UUID]
) -> None:
    session = (await login(gateway, "dispatcher")).json()
    headers = bearer(session["access_token"])

    wrong = await gateway.post(
        "/api/v1/auth/password", json={"current_password": "not it", "new_password": NEW_PASSWORD}, headers=headers
    )
    short = await gateway.post(
        "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": "short"}, headers=headers
    )

    assert wrong.status_code == 422
    assert [error["field"] for error in wrong.json()["errors"]] == ["current_password"]
    assert short.status_code == 422
    assert [error["field"] for error in short.json()["errors"]] == ["new_password"]
    assert await me(gateway, session) == 200
    assert (await login(gateway, "dispatcher")).status_code == 200


async def test_a_disabled_user_is_refused_at_once_everywhere_until_enabled(
    gateway: httpx.AsyncClient, users: dict[str, uuid.UUID]
) -> None:
    admin = bearer((await login(gateway, "admin")).json()["access_token"])
    driver = (await login(gateway, "driver")).json()

    disabled = await gateway.post("/api/v1/users/driver/disable", headers=admin)
    again = await gateway.post("/api/v1/users/driver/disable", headers=admin)

    assert disabled.status_code == 200, disabled.text
    assert disabled.json() == {"username": "driver", "role": "driver", "disabled": True}
    assert again.json() == disabled.json()
    assert await me(gateway, driver) == 401
    assert await refreshed(gateway, driver) == 401
    refused = await login(gateway, "driver")
    assert refused.status_code == 401
    assert "disabled" in refused.json()["detail"]

    enabled = await gateway.post("/api/v1/users/driver/enable", headers=admin)

    assert enabled.json()["disabled"] is False
    assert await me(gateway, driver) == 401, "tokens revoked when disabled stay revoked"
    assert (await login(gateway, "driver")).status_code == 200


async def test_only_an_admin_disables_and_an_unknown_user_is_404(
    gateway: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    by_dispatcher = await gateway.post("/api/v1/users/driver/disable", headers=bearer(tokens["dispatcher"]))
    unknown = await gateway.post("/api/v1/users/nobody-here/disable", headers=bearer(tokens["admin"]))

    assert by_dispatcher.status_code == 403
    assert unknown.status_code == 404
    assert await me(gateway, {"access_token": tokens["driver"]}) == 200
