"""checkov's Kubernetes checks over the chart as rendered for each values file; the checks that do not apply are
listed, each with why, in charts/luckygas/checkov-skips.yaml, and nothing else is skipped.

checkov runs on `helm template`'s output with its kubernetes framework: its helm framework passes silently when no
helm is on PATH. It runs without --skip-check so that the test also sees whether each skip still matches a failure;
the results a skip covers are set aside here instead."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.chart import CHART, ROOT, VALUES_FILES, render_text

# The venv `make tools` installs from tools/checkov/requirements.txt.
CHECKOV = ROOT / ".venv" / "checkov" / "bin" / "checkov"
SKIPS = CHART / "checkov-skips.yaml"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"}


@dataclass(frozen=True)
class Result:
    check_id: str
    check_name: str
    # checkov's resource id, Kind.namespace.name (a graph check appends the pod's labels).
    resource: str
    passed: bool

    @property
    def kind_and_name(self) -> str:
        kind, _, name = self.resource.split(".")[:3]
        return f"{kind}/{name}"

    def line(self) -> str:
        return f"{self.check_id} {self.kind_and_name}: {self.check_name}"


@dataclass(frozen=True)
class Report:
    results: list[Result]
    parsing_errors: list[str]


@dataclass(frozen=True)
class Skip:
    """A check that does not apply, for the values files and resources (Kind/name) named, or all of them."""

    check_id: str
    reason: str
    values: frozenset[str] | None
    resources: frozenset[str] | None

    def covers(self, values: str, result: Result) -> bool:
        return (
            result.check_id == self.check_id
            and (self.values is None or values in self.values)
            and (self.resources is None or result.kind_and_name in self.resources)
        )


def reviewed_skips() -> list[Skip]:
    with SKIPS.open(encoding="utf-8") as file:
        entries: dict[str, dict[str, Any]] = yaml.safe_load(file) or {}
    skips = []
    for check_id, entry in entries.items():
        assert set(entry) <= {"reason", "values", "resources"}, f"{check_id}: unknown keys {set(entry)}"
        assert isinstance(entry.get("reason"), str), f"{check_id}: no reason given"
        assert entry["reason"].strip(), f"{check_id}: no reason given"
        assert set(entry.get("values", [])) <= set(VALUES_FILES), f"{check_id}: values files are {list(VALUES_FILES)}"
        skips.append(
            Skip(
                check_id,
                entry["reason"],
                frozenset(entry["values"]) if "values" in entry else None,
                frozenset(entry["resources"]) if "resources" in entry else None,
            )
        )
    return skips


def run_checkov(directory: Path) -> Report:
    if not CHECKOV.exists():
        pytest.fail(f"checkov is not installed at {CHECKOV.relative_to(ROOT)}: run `make tools`")
    completed = subprocess.run(
        # --skip-download: offline, no guidelines or severities from the vendor's platform.
        [
            str(CHECKOV),
            "--framework",
            "kubernetes",
            "--directory",
            str(directory),
            "--output",
            "json",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=directory,
    )
    # 0: every check passed; 1: some failed. Anything else is checkov itself failing.
    assert completed.returncode in (0, 1), f"checkov exited {completed.returncode}:\n{completed.stderr[-4000:]}"
    output: dict[str, Any] = json.loads(completed.stdout)
    assert "results" in output, f"checkov found nothing to check in {directory}: {output}"
    results = output["results"]
    return Report(
        results=[
            Result(item["check_id"], item["check_name"], item["resource"], passed=outcome == "passed_checks")
            for outcome in ("passed_checks", "failed_checks")
            for item in results.get(outcome, [])
        ],
        parsing_errors=list(results.get("parsing_errors", [])),
    )


class CheckovRuns:
    """One checkov run per values file, shared by the tests that read it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.reports: dict[str, Report] = {}

    def report(self, values: str) -> Report:
        if values not in self.reports:
            rendered = self.directory / values
            rendered.mkdir()
            (rendered / "luckygas.yaml").write_text(render_text(VALUES_FILES[values]), encoding="utf-8")
            self.reports[values] = run_checkov(rendered)
        return self.reports[values]


@pytest.fixture(scope="module")
def checkov(tmp_path_factory: pytest.TempPathFactory) -> CheckovRuns:
    return CheckovRuns(tmp_path_factory.mktemp("checkov"))


@pytest.mark.parametrize("values", list(VALUES_FILES))
def test_checkov_finds_nothing_but_reviewed_skips(checkov: CheckovRuns, values: str) -> None:
    skips = reviewed_skips()
    failed = [result for result in checkov.report(values).results if not result.passed]
    unexpected = sorted({result.line() for result in failed if not any(skip.covers(values, result) for skip in skips)})

    heading = f"{len(unexpected)} checkov failures with the {values} values (reviewed skips: {SKIPS.name}):"
    assert not unexpected, "\n".join([heading, *unexpected])


@pytest.mark.parametrize("values", list(VALUES_FILES))
def test_checkov_read_every_rendered_workload(checkov: CheckovRuns, values: str) -> None:
    """A manifest checkov cannot parse, or a kind it ignores, would go unchecked without a word."""
    report = checkov.report(values)
    rendered = [item for item in yaml.safe_load_all(render_text(VALUES_FILES[values])) if item]
    workloads = {f"{item['kind']}/{item['metadata']['name']}" for item in rendered if item["kind"] in WORKLOAD_KINDS}

    assert report.parsing_errors == []
    assert workloads, "the chart rendered no workload"
    assert sorted(workloads - {result.kind_and_name for result in report.results}) == []


def test_every_skip_still_matches_a_failure(checkov: CheckovRuns) -> None:
    """A skip whose failure is gone would hide the check's next real failure: each skip, and each values file and
    resource it names, must still cover a failure."""
    stale = []
    for skip in reviewed_skips():
        covered = [
            (values, result)
            for values in VALUES_FILES
            for result in checkov.report(values).results
            if not result.passed and skip.covers(values, result)
        ]
        if not covered:
            stale.append(skip.check_id)
        values_covered = {values for values, _ in covered}
        resources_covered = {result.kind_and_name for _, result in covered}
        stale += [f"{skip.check_id} {values}" for values in skip.values or () if values not in values_covered]
        stale += [
            f"{skip.check_id} {resource}" for resource in skip.resources or () if resource not in resources_covered
        ]

    assert not stale, f"skips in {SKIPS.name} that no longer cover a failure (remove them): {', '.join(sorted(stale))}"
