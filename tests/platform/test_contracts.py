"""Checks on the code base itself: generated stubs are current, services stay independent."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
PROTO_ROOT = REPOSITORY / "proto"


def test_committed_generated_code_matches_the_protos(tmp_path: Path) -> None:
    copy = tmp_path / "proto"
    shutil.copytree(PROTO_ROOT, copy, ignore=shutil.ignore_patterns("*.py", "*.pyi", "__pycache__"))

    # In its own process: grpc_tools' protoc and OR-Tools each carry a C++ protobuf runtime, and loading both
    # into one process aborts it (as the routing solver tests load OR-Tools).
    generated_by = subprocess.run(
        [sys.executable, str(REPOSITORY / "tools" / "protogen.py"), str(copy)],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
    )
    assert generated_by.returncode == 0, generated_by.stderr

    generated = sorted(p.relative_to(copy) for p in copy.rglob("*") if p.suffix in {".py", ".pyi"})
    committed = sorted(p.relative_to(PROTO_ROOT) for p in PROTO_ROOT.rglob("*") if p.suffix in {".py", ".pyi"})
    assert generated == committed, "run `make proto` and commit the result"
    stale = [str(path) for path in generated if not filecmp.cmp(copy / path, PROTO_ROOT / path, shallow=False)]
    assert not stale, f"generated code is stale, run `make proto`: {stale}"


def test_import_contracts_hold() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports")], cwd=REPOSITORY, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
