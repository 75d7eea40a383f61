"""The control socket's short folder under /tmp: used only when it is this user's alone."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.local.supervision import Layout, SupervisionError


@pytest.fixture
def long_layout(tmp_path: Path) -> Iterator[Layout]:
    """A data dir whose path is too long for AF_UNIX, so its socket goes to a folder under /tmp."""
    layout = Layout.at(tmp_path / ("d" * 110))
    assert layout.socket_path.parent.parent == Path("/tmp")
    yield layout
    with contextlib.suppress(OSError):
        layout.socket_path.parent.rmdir()


def test_socket_folder_is_made_for_this_user_alone(long_layout: Layout) -> None:
    long_layout.create_directories()

    assert long_layout.socket_path.parent.stat().st_mode & 0o777 == 0o700


def test_a_socket_folder_others_can_open_is_refused(long_layout: Layout) -> None:
    long_layout.socket_path.parent.mkdir(mode=0o700)
    long_layout.socket_path.parent.chmod(0o777)

    with pytest.raises(SupervisionError, match="no one else can open"):
        long_layout.create_directories()
