"""Run a command while busy loops keep every core saturated: the suite must pass on a machine as busy as CI's can be.

    python -m tests.saturate [--loops N] -- make test

Starts N processes (default: one per core) that spin until the command ends, prints how long the command took and
how busy the machine was, and exits with the command's status. The loops are stopped whatever happens.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

SPIN = "while True: pass"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=os.cpu_count() or 2, help="busy loops to run (default: cores)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, after --")
    arguments = parser.parse_args(argv)
    command = arguments.command[1:] if arguments.command[:1] == ["--"] else arguments.command
    if not command:
        parser.error("give the command to run after --")
    loops = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(arguments.loops)]
    started = time.monotonic()
    try:
        status = subprocess.call(command)
    finally:
        for loop in loops:
            loop.kill()
        for loop in loops:
            loop.wait()
    minutes, seconds = divmod(time.monotonic() - started, 60)
    load = os.getloadavg()[1]
    print(
        f"saturate: {' '.join(command)} exited {status} after {minutes:.0f} min {seconds:.0f} s with "
        f"{arguments.loops} busy loops (5-minute load average {load:.1f} on {os.cpu_count()} cores)",
        flush=True,
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
