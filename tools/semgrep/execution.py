"""Cases for tools/semgrep/execution.yml (`semgrep --test tools/semgrep`): `ruleid` lines must match, `ok` lines must
not."""

import asyncio
import marshal
import os
import pickle
import subprocess
import sys

import yaml


def start(data_dir: str) -> None:
    # ruleid: shell-command
    subprocess.run(f"pg_ctl -D {data_dir} start", shell=True, check=True)
    # ruleid: shell-command
    os.system(f"rm -rf {data_dir}")

    # ok: shell-command
    subprocess.run(["pg_ctl", "-D", data_dir, "start"], check=True)


async def migrate(data_dir: str) -> None:
    # ruleid: shell-command
    await asyncio.create_subprocess_shell(f"redis-server --dir {data_dir}")

    # ok: shell-command
    await asyncio.create_subprocess_exec(sys.executable, "-m", "services.order", "migrate")


def read(stored: bytes, text: str) -> list[object]:
    return [
        # ruleid: unsafe-deserialization
        pickle.loads(stored),
        # ruleid: unsafe-deserialization
        marshal.loads(stored),
        # ruleid: unsafe-deserialization
        yaml.load(text, Loader=yaml.FullLoader),
        # ruleid: unsafe-deserialization
        yaml.unsafe_load(text),
        # ok: unsafe-deserialization
        yaml.safe_load(text),
        # ok: unsafe-deserialization
        yaml.load(text, Loader=yaml.SafeLoader),
        # ok: unsafe-deserialization
        pickle.dumps(text),
    ]
