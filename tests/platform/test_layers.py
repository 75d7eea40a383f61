"""Transports (gRPC servicers, the gateway's routes) map messages and call services; they never touch the database.

The rule (docs/architecture.md, "Sessions and transactions"): a service opens the session, repositories use it,
and what crosses back to a transport is a domain record, never an ORM row.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
SERVICERS = sorted(REPOSITORY.glob("services/*/servicer.py"))
ROUTES = sorted((REPOSITORY / "services/gateway/routes").glob("*.py"))

# Modules below the service layer: SQLAlchemy itself, the engine and session scope, a service's tables and SQL.
BELOW_SERVICES = re.compile(r"^(sqlalchemy(\..*)?|services\.platform\.database|services\.\w+\.(models|repository))$")
# Names that are rows or SQL wherever they are imported from (``PriceListRepository`` lives in price_lists.py).
BELOW_SERVICES_NAMES = re.compile(r"(Row|Repository)$")
SESSION_SCOPES = {"session", "read_session"}


def database_access(source: str) -> list[str]:
    """What in ``source`` reaches below the service layer: imports of rows, SQL or sessions, and session scopes."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {alias.name}" for alias in node.names if BELOW_SERVICES.match(alias.name)]
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            if BELOW_SERVICES.match(node.module):
                found.append(f"from {node.module} import ...")
            found += [
                f"from {node.module} import {alias.name}"
                for alias in node.names
                if BELOW_SERVICES_NAMES.search(alias.name) or BELOW_SERVICES.match(f"{node.module}.{alias.name}")
            ]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SESSION_SCOPES:
            found.append(f"opens a session: .{node.func.attr}() on line {node.lineno}")
    return found


def test_every_grpc_service_has_a_servicer_module_checked_here() -> None:
    names = [path.parent.name for path in SERVICERS]
    assert names == ["customer", "flags", "migration", "order", "routing", "tracking"]
    assert any(path.name == "auth.py" for path in ROUTES)


@pytest.mark.parametrize("module", SERVICERS + ROUTES, ids=lambda path: str(path.relative_to(REPOSITORY)))
def test_a_transport_module_neither_imports_rows_nor_opens_sessions(module: Path) -> None:
    assert database_access(module.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "source",
    [
        "from services.routing.models import DepotRow, StopRow",
        "from services.customer.repository import CustomerRepository",
        "import services.tracking.models",
        "from sqlalchemy.ext.asyncio import AsyncSession",
        "from services.platform.database import Database",
        "from services.order.price_lists import PriceListRepository",
        "from services.tracking import models",
        "async def handler(context):\n    async with context.database.session() as session:\n        pass",
        "async def handler(self):\n    async with self.database.read_session() as session:\n        pass",
    ],
)
def test_the_check_finds_each_way_to_reach_the_database(source: str) -> None:
    assert database_access(source) != []
