"""Flags and pilot operations through the gateway, against a real flag service, customer service and Postgres."""

from __future__ import annotations

from typing import Any

import httpx

from tests.gateway.conftest import bearer
from tests.gateway.factories import customer_body

SAMPLE = [f"9{number:06d}" for number in range(300)]
SLOW_GET = {
    "state": "ENABLED",
    "variants": {"slow": {"latency_ms": [100, 100], "methods": ["GetCustomer"]}, "none": {}},
    "defaultVariant": "none",
}


def boolean_flag(default: str = "off") -> dict[str, Any]:
    return {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": default}


async def create_flag(
    gateway: httpx.AsyncClient, token: str, key: str, definition: dict[str, Any] | None = None
) -> httpx.Response:
    response = await gateway.put(
        f"/api/v1/flags/{key}",
        json={"definition": definition or boolean_flag(), "description": "test flag", "reason": "test"},
        headers=bearer(token),
    )
    assert response.status_code == 201, response.text
    return response


async def evaluate(gateway: httpx.AsyncClient, token: str, key: str, code: str) -> dict[str, Any]:
    response = await gateway.post(
        f"/api/v1/flags/{key}/evaluate", json={"context": {"targetingKey": code}}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def share_on(gateway: httpx.AsyncClient, token: str, key: str, codes: list[str]) -> float:
    results = [await evaluate(gateway, token, key, code) for code in codes]
    return sum(result["value"] is True for result in results) / len(codes)


async def test_a_flag_is_created_then_changed_with_its_version(
    gateway: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    created = await create_flag(gateway, tokens["sre"], "new-invoice")
    assert created.headers["ETag"] == '"1"'
    assert created.json()["definition"] == boolean_flag()

    changed = await gateway.put(
        "/api/v1/flags/new-invoice",
        json={"definition": boolean_flag(default="on"), "description": "on for all"},
        headers={**bearer(tokens["admin"]), "If-Match": '"1"'},
    )
    stale = await gateway.put(
        "/api/v1/flags/new-invoice",
        json={"definition": boolean_flag()},
        headers={**bearer(tokens["sre"]), "If-Match": '"1"'},
    )
    read = await gateway.get("/api/v1/flags/new-invoice", headers=bearer(tokens["dispatcher"]))
    listed = await gateway.get("/api/v1/flags", headers=bearer(tokens["dispatcher"]))

    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    assert read.headers["ETag"] == '"2"'
    assert read.json()["definition"]["defaultVariant"] == "on"
    assert read.json()["updated_by"] == "admin"
    assert [flag["key"] for flag in listed.json()["items"]] == ["new-invoice"]


async def test_creating_a_flag_that_exists_is_a_conflict(gateway: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    await create_flag(gateway, tokens["sre"], "new-invoice")

    again = await gateway.put(
        "/api/v1/flags/new-invoice", json={"definition": boolean_flag()}, headers=bearer(tokens["sre"])
    )

    assert again.status_code in (409, 412), again.text


async def test_kill_disables_the_flag_and_restore_brings_a_version_back(
    gateway: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    await create_flag(gateway, tokens["sre"], "new-invoice", boolean_flag(default="on"))

    killed = await gateway.post(
        "/api/v1/flags/new-invoice/kill", json={"reason": "wrong totals"}, headers=bearer(tokens["sre"])
    )
    while_killed = await evaluate(gateway, tokens["dispatcher"], "new-invoice", "1000001")
    restored = await gateway.post(
        "/api/v1/flags/new-invoice/restore", json={"version": 1, "reason": "fixed"}, headers=bearer(tokens["admin"])
    )
    after = await evaluate(gateway, tokens["dispatcher"], "new-invoice", "1000001")

    assert killed.status_code == 200, killed.text
    assert killed.json()["definition"]["state"] == "DISABLED"
    assert while_killed["reason"] == "DISABLED"
    assert while_killed["value"] is None
    assert restored.status_code == 200, restored.text
    assert restored.json()["version"] == 3
    assert restored.json()["definition"]["state"] == "ENABLED"
    assert after["value"] is True


async def test_the_audit_log_names_the_user_of_every_change(gateway: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    await create_flag(gateway, tokens["sre"], "new-invoice")
    await gateway.post("/api/v1/flags/new-invoice/kill", json={"reason": "incident"}, headers=bearer(tokens["admin"]))

    own = await gateway.get("/api/v1/flags/new-invoice/audit", headers=bearer(tokens["dispatcher"]))
    every = await gateway.get("/api/v1/flags/audit", headers=bearer(tokens["sre"]))

    assert own.status_code == 200, own.text
    assert [(e["action"], e["actor"], e["actor_role"], e["reason"]) for e in own.json()["entries"]] == [
        ("kill", "admin", "admin", "incident"),
        ("create", "sre", "sre", "test"),
    ]
    assert own.json()["entries"][1]["before"] is None
    assert own.json()["entries"][1]["after"] == boolean_flag()
    assert every.json()["entries"] == own.json()["entries"]


async def test_a_dispatcher_reads_flags_but_cannot_change_them(
    gateway: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    await create_flag(gateway, tokens["sre"], "new-invoice")
    headers = bearer(tokens["dispatcher"])

    read = await gateway.get("/api/v1/flags/new-invoice", headers=headers)
    writes = [
        await gateway.put("/api/v1/flags/other", json={"definition": boolean_flag()}, headers=headers),
        await gateway.put("/api/v1/flags/fault.customer", json={"definition": SLOW_GET}, headers=headers),
        await gateway.post("/api/v1/flags/new-invoice/kill", json={}, headers=headers),
        await gateway.post("/api/v1/flags/new-invoice/restore", json={"version": 1}, headers=headers),
        await gateway.put("/api/v1/pilot/new-invoice/percentage", json={"percent": 50}, headers=headers),
    ]

    assert read.status_code == 200
    assert [response.status_code for response in writes] == [403] * len(writes)
    assert (await gateway.get("/api/v1/flags/new-invoice", headers=headers)).json()["version"] == 1
    assert (await gateway.get("/api/v1/flags/fault.customer", headers=headers)).status_code == 404


async def test_an_sre_changes_fault_flags(gateway: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    created = await create_flag(gateway, tokens["sre"], "fault.customer", SLOW_GET)
    killed = await gateway.post(
        "/api/v1/flags/fault.customer/kill", json={"reason": "experiment over"}, headers=bearer(tokens["sre"])
    )

    assert created.json()["key"] == "fault.customer"
    assert killed.status_code == 200, killed.text
    assert killed.json()["definition"]["state"] == "DISABLED"


async def test_office_staff_see_a_customers_effective_flags(gateway: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    office = bearer(tokens["dispatcher"])
    customer = (await gateway.post("/api/v1/customers", json=customer_body(zone="C"), headers=office)).json()
    cohort = {"in": [{"var": "targetingKey"}, [customer["code"]]]}
    await create_flag(gateway, tokens["sre"], "new-invoice", {**boolean_flag(), "targeting": {"if": [cohort, "on"]}})
    zone_rule = {"if": [{"==": [{"var": "zone"}, "C"]}, "on"]}
    await create_flag(gateway, tokens["sre"], "zone-c", {**boolean_flag(), "targeting": zone_rule})

    response = await gateway.get(f"/api/v1/customers/{customer['id']}/flags", headers=office)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["context"] == {"targetingKey": customer["code"], "zone": "C", "segment": "ordinary"}
    values = {flag["flag_key"]: (flag["value"], flag["reason"]) for flag in body["flags"]}
    assert values == {"new-invoice": (True, "TARGETING_MATCH"), "zone-c": (True, "TARGETING_MATCH")}


async def test_the_pilot_walkthrough(gateway: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    """5 customers → 10 → 20 → 10 % → 50 % → 100 % → kill → restore, each step checked and audited."""
    sre, admin, reader = bearer(tokens["sre"]), bearer(tokens["admin"]), tokens["dispatcher"]
    key = "new-invoice"
    pilot = [f"8{number:06d}" for number in range(20)]
    users: list[str] = []  # who made each change, oldest first

    async def step(method: str, path: str, body: dict[str, Any], headers: dict[str, str], user: str) -> None:
        response = await gateway.request(method, path, json=body, headers=headers)
        assert response.status_code in (200, 201), response.text
        users.append(user)

    async def expect(cohort: list[str], percent: float) -> None:
        assert [(await evaluate(gateway, reader, key, code))["value"] for code in cohort] == [True] * len(cohort)
        outside = [code for code in SAMPLE if code not in cohort]
        assert abs(await share_on(gateway, reader, key, outside) - percent / 100) <= 0.07

    await step("PUT", f"/api/v1/pilot/{key}/cohort", {"customer_codes": pilot[:5], "reason": "5 shops"}, sre, "sre")
    await expect(pilot[:5], 0)
    assert (await evaluate(gateway, reader, key, pilot[5]))["value"] is False

    await step("POST", f"/api/v1/pilot/{key}/cohort/grow", {"customer_codes": pilot[5:10], "reason": "10"}, sre, "sre")
    await expect(pilot[:10], 0)
    await step(
        "POST", f"/api/v1/pilot/{key}/cohort/grow", {"customer_codes": pilot[10:20], "reason": "20"}, admin, "admin"
    )
    await expect(pilot, 0)

    for percent in (10, 50, 100):
        await step("PUT", f"/api/v1/pilot/{key}/percentage", {"percent": percent, "reason": f"{percent}%"}, sre, "sre")
        await expect(pilot, percent)
    state = (await gateway.get(f"/api/v1/flags/{key}", headers=bearer(reader))).json()
    assert state["definition"]["targeting"]["if"][0]["in"][1] == sorted(pilot)

    await step("POST", f"/api/v1/flags/{key}/kill", {"reason": "complaints"}, admin, "admin")
    killed = [await evaluate(gateway, reader, key, code) for code in [pilot[0], *SAMPLE[:20]]]
    assert {(result["reason"], result["value"]) for result in killed} == {("DISABLED", None)}

    await step("POST", f"/api/v1/flags/{key}/restore", {"version": 6, "reason": "fixed"}, sre, "sre")
    await expect(pilot, 100)

    audit = (await gateway.get(f"/api/v1/flags/{key}/audit", headers=bearer(reader))).json()["entries"][::-1]
    assert [(entry["action"], entry["actor"], entry["reason"]) for entry in audit] == [
        ("create", "sre", "5 shops"),
        ("change", "sre", "10"),
        ("change", "admin", "20"),
        ("change", "sre", "10%"),
        ("change", "sre", "50%"),
        ("change", "sre", "100%"),
        ("kill", "admin", "complaints"),
        ("restore", "sre", "fixed"),
    ]
    assert [entry["actor"] for entry in audit] == users
    assert [entry["flag_version"] for entry in audit] == list(range(1, 9))


async def test_a_percentage_keeps_the_cohort_and_a_cohort_keeps_the_percentage(
    gateway: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    sre = bearer(tokens["sre"])
    await gateway.put("/api/v1/pilot/new-invoice/percentage", json={"percent": 25}, headers=sre)
    cohort = await gateway.put(
        "/api/v1/pilot/new-invoice/cohort", json={"customer_codes": ["1000002", "1000001"]}, headers=sre
    )
    percentage = await gateway.put("/api/v1/pilot/new-invoice/percentage", json={"percent": 30}, headers=sre)

    assert (cohort.json()["customer_codes"], cohort.json()["percent"]) == (["1000001", "1000002"], 25)
    assert (percentage.json()["customer_codes"], percentage.json()["percent"]) == (["1000001", "1000002"], 30)


async def test_a_cohort_takes_one_to_fifty_customers(gateway: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    sre = bearer(tokens["sre"])

    empty = await gateway.put("/api/v1/pilot/new-invoice/cohort", json={"customer_codes": []}, headers=sre)
    too_many = await gateway.put("/api/v1/pilot/new-invoice/cohort", json={"customer_codes": SAMPLE[:51]}, headers=sre)
    await gateway.put("/api/v1/pilot/new-invoice/cohort", json={"customer_codes": SAMPLE[:50]}, headers=sre)
    grown_past = await gateway.post(
        "/api/v1/pilot/new-invoice/cohort/grow", json={"customer_codes": SAMPLE[50:51]}, headers=sre
    )

    assert [empty.status_code, too_many.status_code, grown_past.status_code] == [422, 422, 422]
