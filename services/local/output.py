"""What the ``luckygas`` command prints: status tables, progress lines, log tails."""

from __future__ import annotations

import codecs
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO


def print_table(rows: list[dict[str, Any]]) -> None:
    headers = ["component", "pid", "state", "address", "health", "log"]
    cells = [
        [
            row["name"],
            str(row["pid"] or "-"),
            row["state"],
            row["address"],
            row["health"],
            shown(Path(row["log"])) if row["log"] else "-",
        ]
        for row in rows
    ]
    widths = [max(len(header), *(len(line[index]) for line in cells)) for index, header in enumerate(headers)]
    for line in [headers, *cells]:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def tail_lines(path: Path, count: int) -> list[str]:
    """The last ``count`` lines, read from the end: logs grow to megabytes."""
    if count <= 0:
        return []
    with path.open("rb") as file:
        position = file.seek(0, os.SEEK_END)
        data = b""
        while position > 0 and data.count(b"\n") <= count:
            step = min(64 * 1024, position)
            position -= step
            file.seek(position)
            data = file.read(step) + data
    return data.decode(errors="replace").splitlines()[-count:]


def follow_file(path: Path, output: TextIO, poll_seconds: float = 0.25) -> None:
    """Print what is appended to ``path`` until interrupted; reopens it when supervisord rotates the log."""
    file = path.open("rb")
    file.seek(0, os.SEEK_END)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    try:
        while True:
            chunk = file.read()
            if chunk:
                output.write(decoder.decode(chunk))
                output.flush()
                continue
            time.sleep(poll_seconds)
            try:
                current = path.stat()
            except FileNotFoundError:
                continue
            if current.st_ino != os.fstat(file.fileno()).st_ino or current.st_size < file.tell():
                file.close()
                file = path.open("rb")
    finally:
        file.close()


class ProgressLine:
    """A line that counts seconds while something is awaited, rewritten in place on a terminal."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self._label = label
        self._stream = stream or sys.stdout
        self._interactive = self._stream.isatty()
        self._last_drawn = -1.0

    def update(self, elapsed: float) -> None:
        # Redraw at most ten times a second; without a terminal only the outcome is printed.
        if self._interactive and elapsed - self._last_drawn >= 0.1:
            self._last_drawn = elapsed
            self._stream.write(f"\r\x1b[K{self._label} ... {elapsed:.1f}s")
            self._stream.flush()

    def done(self, outcome: str) -> None:
        prefix = "\r\x1b[K" if self._interactive else ""
        self._stream.write(f"{prefix}{self._label} ... {outcome}\n")
        self._stream.flush()


def shown(path: Path) -> str:
    """A path relative to the working directory when it is inside it: shorter to read and to copy."""
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)
