"""Flag service fixtures live in ``tests/conftest.py`` (the gateway's tests start a flag server too)."""

from __future__ import annotations

from tests.conftest import FLAG_SERVICE, StartServer

__all__ = ["FLAG_SERVICE", "StartServer"]
