"""skaffold.yaml without skaffold: valid against skaffold's own schema, and naming the chart, values, image and
Service that exist, with the image values skaffold sets reaching every platform container."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from jsonschema.exceptions import best_match

from tests.deploy.chart import CHART, NAMESPACE, RELEASE, ROOT, containers, objects_of, render

SKAFFOLD = ROOT / "skaffold.yaml"
# Skaffold's published schema for this apiVersion (Apache-2.0, see schemas/NOTICE), vendored so CI needs no network.
SCHEMA = Path(__file__).parent / "schemas" / "skaffold-v4beta14.json"
API_VERSION = "skaffold/v4beta14"
KIND_CLUSTER = ROOT / "deploy" / "kind" / "cluster.yaml"
# The values skaffold offers setValueTemplates for each artifact, e.g. {{.IMAGE_TAG_luckygas_platform}}.
IMAGE_TEMPLATE = r"\{\{\.IMAGE_(?:FULLY_QUALIFIED|REPO_NO_DOMAIN|REPO|TAG|DIGEST|DOMAIN)_(\w+)\}\}"


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as file:
        return yaml.safe_load(file)


def skaffold_config() -> dict[str, Any]:
    config: dict[str, Any] = load_yaml(SKAFFOLD)
    return config


def schema_errors(config: dict[str, Any]) -> list[str]:
    """Each way the config breaks the schema, as the most specific message skaffold's schema gives for it."""
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    messages = []
    for error in validator.iter_errors(config):
        specific = best_match([error])
        location = "/".join(str(part) for part in specific.absolute_path) or "(top)"
        messages.append(f"{location}: {specific.message}")
    return messages


def apply_patch(config: dict[str, Any], patch: dict[str, Any]) -> None:
    """A profile's JSON patch (RFC 6902), the `add` and `replace` operations skaffold.yaml uses."""
    assert patch["op"] in {"add", "replace"}, f"the test does not apply {patch['op']} patches: {patch}"
    *parents, last = [part.replace("~1", "/").replace("~0", "~") for part in patch["path"].split("/")[1:]]
    target: Any = config
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target.insert(len(target) if last == "-" else int(last), patch["value"])
    else:
        assert patch["op"] == "add" or last in target, f"replace of a missing {patch['path']}"
        target[last] = patch["value"]


def effective_config(profile: str | None) -> dict[str, Any]:
    """The config with a profile's patches applied (the sections a profile lays on, like build.local, are read from
    the profile itself)."""
    config = skaffold_config()
    effective = copy.deepcopy(config)
    if profile is not None:
        (selected,) = [item for item in config["profiles"] if item["name"] == profile]
        for patch in selected.get("patches", []):
            apply_patch(effective, patch)
    return effective


def profile_names() -> list[str | None]:
    return [None, *(profile["name"] for profile in skaffold_config().get("profiles", []))]


def the_artifact() -> dict[str, Any]:
    (artifact,) = skaffold_config()["build"]["artifacts"]
    return dict(artifact)


def the_release(config: dict[str, Any]) -> dict[str, Any]:
    (release,) = config["deploy"]["helm"]["releases"]
    return dict(release)


def template_name(image: str) -> str:
    """How skaffold names an artifact in setValueTemplates: characters a Go template name cannot hold become _."""
    return re.sub(r"[^A-Za-z0-9_]", "_", image)


def platform_images(objects: list[dict[str, Any]], repository: str) -> set[str]:
    """The image of every container (init containers too) running the platform's repository."""
    images = {container["image"] for container in containers(objects)}
    return {image for image in images if image.startswith((repository + ":", repository + "@"))}


def test_skaffold_yaml_is_valid_against_skaffolds_schema() -> None:
    config = skaffold_config()
    assert config["apiVersion"] == API_VERSION, f"the vendored schema is {SCHEMA.name}; update both together"
    assert schema_errors(config) == []


def test_the_schema_refuses_a_misspelt_field() -> None:
    config = skaffold_config()
    config["deploy"]["helm"]["releases"][0]["chartpath"] = config["deploy"]["helm"]["releases"][0].pop("chartPath")

    assert any("'chartpath' was unexpected" in message for message in schema_errors(config))


@pytest.mark.parametrize("profile", profile_names())
def test_every_profile_names_a_chart_and_values_files_that_exist(profile: str | None) -> None:
    config = effective_config(profile)
    assert schema_errors(config) == [], f"profile {profile} patches skaffold.yaml into an invalid config"
    release = the_release(config)

    assert (ROOT / release["chartPath"]).resolve() == CHART
    assert (CHART / "Chart.yaml").is_file()
    assert (release["name"], release["namespace"]) == (RELEASE, NAMESPACE)
    missing = [path for path in release.get("valuesFiles", []) if not (ROOT / path).is_file()]
    assert missing == []


def test_the_kind_profile_deploys_with_the_kind_values_on_the_kind_cluster_without_pushing() -> None:
    (kind,) = [profile for profile in skaffold_config()["profiles"] if profile["name"] == "kind"]
    release = the_release(effective_config("kind"))

    assert release["valuesFiles"] == ["deploy/kind/values.yaml"]
    assert kind["build"]["local"]["push"] is False
    assert kind["activation"] == [{"kubeContext": f"kind-{load_yaml(KIND_CLUSTER)['name']}"}]


def test_the_artifact_is_built_from_the_containerfile_as_the_charts_image() -> None:
    artifact = the_artifact()

    assert (ROOT / artifact["docker"]["dockerfile"]).is_file()
    assert artifact["image"] == load_yaml(CHART / "values.yaml")["image"]["repository"]


def test_pushed_images_get_tags_helm_cannot_read_as_numbers() -> None:
    """skaffold passes the tag with --set, which turns an all-digit short commit into a number the schema refuses."""
    prefix = skaffold_config()["build"]["tagPolicy"]["gitCommit"]["prefix"]

    assert re.fullmatch(r"[a-z][a-z0-9.-]*", prefix)


def test_set_value_templates_name_the_artifact_as_skaffold_does() -> None:
    templates = the_release(skaffold_config())["setValueTemplates"]
    names = {name for value in templates.values() for name in re.findall(IMAGE_TEMPLATE, value)}

    assert names == {template_name(the_artifact()["image"])}
    assert set(templates) == {"image.repository", "image.tag", "image.digest"}


@pytest.mark.parametrize(
    ("tag", "digest", "expected"),
    [
        ("3f9a" * 16, "", "registry.test/luckygas/platform:" + "3f9a" * 16),
        ("git-1234567", "sha256:" + "ab" * 32, "registry.test/luckygas/platform@sha256:" + "ab" * 32),
    ],
    ids=["loaded-image-tagged-with-its-id", "pushed-image-by-digest"],
)
def test_the_image_skaffold_built_is_what_every_platform_container_runs(tag: str, digest: str, expected: str) -> None:
    """Skaffold's values for an image loaded into kind (tagged with its image id, no digest) and for a pushed one
    (tag and digest), set as setValueTemplates says, reach every container of the platform's image."""
    name = template_name(the_artifact()["image"])
    built = {
        f"IMAGE_REPO_{name}": "registry.test/luckygas/platform",
        f"IMAGE_TAG_{name}": tag,
        f"IMAGE_DIGEST_{name}": digest,
    }
    templates = the_release(skaffold_config())["setValueTemplates"]
    settings = {
        key: re.sub(r"\{\{\.(\w+)\}\}", lambda match: built[match[1]], value) for key, value in templates.items()
    }

    assert platform_images(render(settings=settings), "registry.test/luckygas/platform") == {expected}


def test_the_port_forward_reaches_the_gateway_service() -> None:
    (forward,) = skaffold_config()["portForward"]
    services = {item["metadata"]["name"]: item for item in objects_of(render(), "Service")}

    assert (forward["resourceType"], forward["namespace"]) == ("service", NAMESPACE)
    assert forward["resourceName"] in services
    assert forward["port"] in [port["port"] for port in services[forward["resourceName"]]["spec"]["ports"]]
    assert forward["localPort"] == 8080
