"""Settings drift between the chart and the code: every LUCKYGAS_* variable the chart sets is one its process reads,
and every setting a process requires (no default) is set by the chart, for every values file."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from services.jobs.__main__ import SMOKE_PASSWORD_VARIABLE
from services.platform.settings import PlatformSettings
from tests.deploy.chart import VALUES_FILES, objects_of, render

DEPLOYABLES = ("gateway", "customer", "order", "routing", "tracking", "flags", "migration")
PREFIX = "LUCKYGAS_"


def settings_class(deployable: str) -> type[BaseSettings]:
    """The one PlatformSettings subclass of ``services.<deployable>.settings``: what its process reads."""
    module = importlib.import_module(f"services.{deployable}.settings")
    (found,) = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, PlatformSettings) and value.__module__ == module.__name__
    ]
    return found


def variables(settings: type[BaseSettings]) -> dict[str, bool]:
    """Each setting's environment variable → whether it is required."""
    prefix = settings.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper(): field.is_required() for name, field in settings.model_fields.items()}


def container_env(item: dict[str, Any]) -> set[str]:
    spec = item["spec"] if item["kind"] == "Pod" else item["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    return {entry["name"] for entry in container.get("env", [])}


def component(item: dict[str, Any]) -> str:
    return item["metadata"]["labels"]["app.kubernetes.io/component"]


@pytest.fixture(scope="module", params=list(VALUES_FILES), ids=list(VALUES_FILES))
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(VALUES_FILES[request.param])


@pytest.mark.parametrize("deployable", DEPLOYABLES)
def test_every_variable_a_deployment_sets_is_read_and_every_required_one_set(
    rendered: list[dict[str, Any]], deployable: str
) -> None:
    (deployment,) = [item for item in objects_of(rendered, "Deployment") if component(item) == deployable]
    read = variables(settings_class(deployable))
    set_by_chart = {name for name in container_env(deployment) if name.startswith(PREFIX)}
    assert set_by_chart - set(read) == set(), f"{deployable}: set by the chart, read by no one"
    required = {name for name, needed in read.items() if needed}
    assert required - set_by_chart == set(), f"{deployable}: required, not set by the chart"


def test_the_migration_job_sets_only_what_the_commands_it_runs_read(rendered: list[dict[str, Any]]) -> None:
    (job,) = objects_of(rendered, "Job")
    # services.jobs migrate runs every deployable's migrate (and seed, bootstrap-admin) commands.
    read: dict[str, bool] = {}
    for deployable in DEPLOYABLES:
        for name, needed in variables(settings_class(deployable)).items():
            read[name] = read.get(name, False) or needed
    set_by_chart = {name for name in container_env(job) if name.startswith(PREFIX)}
    assert set_by_chart - set(read) == set()
    # Every command it runs starts with its deployable's required settings present.
    for deployable in DEPLOYABLES:
        required = {name for name, needed in variables(settings_class(deployable)).items() if needed}
        assert required <= set_by_chart, deployable
    assert "LUCKYGAS_ADMIN_PASSWORD" in set_by_chart


def test_the_smoke_test_sets_only_its_password(rendered: list[dict[str, Any]]) -> None:
    (pod,) = objects_of(rendered, "Pod")
    assert container_env(pod) == {SMOKE_PASSWORD_VARIABLE}
