"""Generates the Python, .pyi and gRPC stubs for every .proto under proto/ (``make proto``).

A development tool, not part of what runs: ``python tools/protogen.py [proto root]`` (default: the repository's
proto/), with the dev dependencies (grpcio-tools, mypy-protobuf) installed.
"""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parents[1] / "proto"


def proto_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.proto"))


def generate(root: Path, output: Path) -> None:
    """Run protoc for every contract; output mirrors the proto tree (luckygas/<service>/v1/...)."""
    well_known = resources.files("grpc_tools") / "_proto"
    # protoc finds the mypy-protobuf plugins on PATH; they live beside this interpreter.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    for proto in proto_files(root):
        arguments = [
            "protoc",
            f"--proto_path={root}",
            f"--proto_path={well_known}",
            f"--python_out={output}",
            f"--mypy_out={output}",
            f"--grpc_python_out={output}",
            f"--mypy_grpc_out={output}",
            str(proto),
        ]
        if protoc.main(arguments) != 0:
            raise SystemExit(f"protoc failed for {proto}")
    for package in {p.parent for p in output.rglob("*_pb2.py")}:
        # Namespace-less packages so `luckygas.customer.v1` imports from an installed wheel too.
        current = package
        while current != output:
            (current / "__init__.py").touch()
            current = current.parent


def main() -> None:
    root = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else PROTO_ROOT
    generate(root, root)


if __name__ == "__main__":
    main()
