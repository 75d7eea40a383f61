"""Checks on the code base itself: generated stubs are current, services stay independent."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

from services.platform.protogen import PROTO_ROOT, generate

REPOSITORY = Path(__file__).resolve().parents[2]


def test_committed_generated_code_matches_the_protos(tmp_path: Path) -> None:
    copy = tmp_path / "proto"
    shutil.copytree(PROTO_ROOT, copy, ignore=shutil.ignore_patterns("*.py", "*.pyi", "__pycache__"))

    generate(copy, copy)

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
