"""`make load`: the Locust scenarios (locustfile.py) headless against `luckygas up` or a cluster, a summary, and the
pilot's gates as the exit code.

    python -m loadtests.load                         # 1,000 users for 5 minutes against .luckygas (started if need be)
    LOAD_DURATION=30m make load                      # the soak
    python -m loadtests.load --host https://gw.example --accounts accounts.json --processes 4

Steps: start `luckygas up --seed demo` when no platform runs in the data dir (with the login limit per client
address raised for one generator's N logins, LUCKYGAS_LOGIN_ATTEMPTS_PER_WINDOW; it is stopped again afterwards),
`luckygas load accounts --users N`, Locust with its CSV and HTML reports in <data-dir>/load/, then the summary and
the gates: p95 < 200 ms, p99 < 500 ms, errors < 0.1 %, every created order read back (exit 1 otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess  # nosec B404 # runs luckygas and locust, argv lists only
import sys
import time
from pathlib import Path
from typing import Any

from services.local.programs import PlatformState
from services.local.supervision import Layout

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
REPOSITORY = Path(__file__).resolve().parent.parent
# The pilot's go/no-go (issue 15) and our own aims.
GATE_P95_MS, GATE_P99_MS, GATE_ERROR_RATE = 200.0, 500.0, 0.001
AIM_P95_MS, AIM_P99_MS = 100.0, 250.0
LOAD_SAMPLE_SECONDS = 10.0
LOGIN_LIMIT_VARIABLE = "LUCKYGAS_LOGIN_ATTEMPTS_PER_WINDOW"


def seconds(text: str) -> float:
    """Locust's durations: 90, 90s, 5m, 1h30m."""
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+)([hms])", text)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 30s, 5m, 1h30m)")
    return float(sum(int(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts))


def luckygas(*arguments: str, environment: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("luckygas")), *arguments]
    if not Path(command[0]).exists():
        command = [sys.executable, "-m", "services.local.cli", *arguments]
    return subprocess.run(command, text=True, env=environment, check=False)  # nosec B603 # our own CLI


def platform_running(data_dir: Path) -> bool:
    command = [str(Path(sys.executable).with_name("luckygas")), "status", "--json", "--data-dir", str(data_dir)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # nosec B603 # our own CLI
    try:
        return bool(json.loads(result.stdout)["running"])
    except (ValueError, KeyError):
        return False


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m loadtests.load", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=int(env("LOAD_USERS") or 1000), help="$LOAD_USERS, 1000")
    parser.add_argument("--duration", default=env("LOAD_DURATION") or "5m", help="$LOAD_DURATION, 5m (ramp included)")
    parser.add_argument("--ramp", default=env("LOAD_RAMP") or "", help="$LOAD_RAMP: spawn time; 2m at most")
    parser.add_argument("--host", default=env("LOAD_HOST") or "", help="$LOAD_HOST: a gateway; no platform started")
    parser.add_argument("--accounts", default=env("LOAD_ACCOUNTS") or "", help="an accounts file; else created")
    parser.add_argument("--data-dir", default=env("LUCKYGAS_DATA_DIR") or ".luckygas", help="the platform's")
    parser.add_argument("--gateway-port", default="", help="for a platform this command starts")
    parser.add_argument("--processes", type=int, default=int(env("LOAD_PROCESSES") or 1), help="Locust workers")
    parser.add_argument("--live-share", default="0.3", help="share of office users on the live feed")
    parser.add_argument("--report-only", action="store_true", help="print the gates, exit 0 whatever they say")
    arguments = parser.parse_args(argv)
    arguments.duration_s = seconds(arguments.duration)
    ramp = seconds(arguments.ramp) if arguments.ramp else min(120.0, arguments.duration_s / 3)
    arguments.spawn_rate = max(arguments.users / max(ramp, 1.0), 0.1)
    return arguments


def start_platform(arguments: argparse.Namespace, data_dir: Path) -> None:
    environment = dict(os.environ)
    # One generator logs N users in from one address within the ramp-up: the documented per-address limit is raised
    # for this platform (a person's login stays limited by the per-user lockout).
    environment.setdefault(LOGIN_LIMIT_VARIABLE, str(max(200, 2 * arguments.users)))
    print(f"starting the platform in {data_dir} ({LOGIN_LIMIT_VARIABLE}={environment[LOGIN_LIMIT_VARIABLE]})")
    port = ["--gateway-port", arguments.gateway_port] if arguments.gateway_port else []
    started = luckygas("up", "--seed", "demo", "--data-dir", str(data_dir), *port, environment=environment)
    if started.returncode != 0:
        raise SystemExit(f"luckygas up failed ({started.returncode})")


def run_locust(arguments: argparse.Namespace, host: str, accounts: Path, out: Path) -> dict[str, Any]:
    """Locust headless; its CPU (every worker process too), the wall time and the load average while it ran."""
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "-u", str(arguments.users), "-r", f"{arguments.spawn_rate:.3f}", "-t", f"{arguments.duration_s:.0f}s",
        "--host", host, "--accounts", str(accounts), "--results", str(out / "results.json"),
        "--live-share", arguments.live_share, "--csv", str(out / "locust"), "--html", str(out / "report.html"),
        "--only-summary", "--stop-timeout", "30", "--logfile", str(out / "locust.log"),
    ]  # fmt: skip
    if arguments.processes > 1:
        command += ["--processes", str(arguments.processes)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    samples: list[float] = []
    with (out / "locust-output.txt").open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, cwd=REPOSITORY)  # nosec B603
        while True:
            try:
                process.wait(timeout=LOAD_SAMPLE_SECONDS)
                break
            except subprocess.TimeoutExpired:
                samples.append(os.getloadavg()[0])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.monotonic() - started
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "locust_exit_code": process.returncode,
        "wall_s": wall,
        "generator_cpu_s": cpu,
        "generator_cpu_percent_of_one_core": 100 * cpu / wall if wall else 0.0,
        "cpus": os.cpu_count() or 1,
        "load_average_max_1m": max(samples, default=os.getloadavg()[0]),
        "load_average_end": list(os.getloadavg()),
    }


def gates(results: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """(what, passed, figures) for each gate of the pilot's go/no-go."""
    http = results["http"]
    failures = sum(row["failures"] for row in results["by_name"].values())
    rate = failures / http["count"] if http["count"] else 1.0
    check = results["verification"]
    return [
        ("p95 < 200 ms", http["p95_ms"] < GATE_P95_MS, f"{http['p95_ms']:.0f} ms"),
        ("p99 < 500 ms", http["p99_ms"] < GATE_P99_MS, f"{http['p99_ms']:.0f} ms"),
        ("errors < 0.1 %", rate < GATE_ERROR_RATE, f"{failures} of {http['count']} ({100 * rate:.3f} %)"),
        (
            "every created order exists",
            check.get("verified", 0) == check.get("created", 0) and not check.get("missing"),
            f"{check.get('verified', 0)} of {check.get('created', 0)} read back, {len(check.get('missing', []))} "
            f"missing, {len(check.get('unverifiable', []))} unverifiable",
        ),
        ("every user had an account", results["unserved_users"] == 0, f"{results['unserved_users']} without"),
    ]


def print_summary(results: dict[str, Any], machine: dict[str, Any], users: int, duration: str) -> bool:
    print(f"\nmake load: {users} users for {duration}")
    header = f"{'type':<6} {'name':<58} {'count':>7} {'fail':>5} {'p50':>6} {'p95':>6} {'p99':>6} {'rps':>7}"
    print(header)
    print("-" * len(header))
    for key, row in results["by_name"].items():
        kind, _, name = key.partition(" ")
        print(
            f"{kind:<6} {name[:58]:<58} {row['count']:>7} {row['failures']:>5} {row['p50_ms']:>6.0f} "
            f"{row['p95_ms']:>6.0f} {row['p99_ms']:>6.0f} {row['rps']:>7.2f}"
        )
    print("-" * len(header))
    for label, row in (("HTTP", results["http"]), ("WS", results["live"])):
        title = "all HTTP requests" if label == "HTTP" else "live feed message latency (occurred_at → read)"
        print(
            f"{label:<6} {title:<58} {row['count']:>7} {row['failures']:>5} {row['p50_ms']:>6.0f} "
            f"{row['p95_ms']:>6.0f} {row['p99_ms']:>6.0f} {row['rps']:>7.2f}"
        )
    print("\nrequests per user class:", json.dumps(results["requests_by_class"]))
    if results["server_errors"]:
        print("5xx answers:", json.dumps(results["server_errors"]))
    for error in results["errors"][:10]:
        print(f"error: {error['occurrences']} × {error['method']} {error['name']}: {error['error'][:160]}")
    print(
        f"\ngenerator: {machine['generator_cpu_s']:.1f} CPU s in {machine['wall_s']:.0f} s = "
        f"{machine['generator_cpu_percent_of_one_core']:.0f} % of one core "
        f"({machine['generator_cpu_percent_of_one_core'] / machine['cpus']:.0f} % of the machine's {machine['cpus']})"
    )
    end = machine["load_average_end"]
    print(
        f"load average: highest 1-min {machine['load_average_max_1m']:.2f} during the run; "
        f"at the end {end[0]:.2f} {end[1]:.2f} {end[2]:.2f}"
    )
    passed = True
    print("\ngates (the pilot's go/no-go):")
    for what, ok, figures in gates(results):
        passed &= ok
        print(f"  {'PASS' if ok else 'FAIL'}  {what:<28} {figures}")
    http = results["http"]
    failures = sum(row["failures"] for row in results["by_name"].values())
    print("aims (reported, not gated):")
    for what, ok, figures in (
        ("p95 ≤ 100 ms", http["p95_ms"] <= AIM_P95_MS, f"{http['p95_ms']:.0f} ms"),
        ("p99 ≤ 250 ms", http["p99_ms"] <= AIM_P99_MS, f"{http['p99_ms']:.0f} ms"),
        ("0 errors", failures == 0, str(failures)),
    ):
        print(f"  {'met' if ok else 'missed':<6} {what:<28} {figures}")
    return passed


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    data_dir = Path(arguments.data_dir).resolve()
    out = data_dir / "load"
    started_here = False
    host = arguments.host.rstrip("/")
    try:
        if not host:
            if not platform_running(data_dir):
                start_platform(arguments, data_dir)
                started_here = True
            else:
                print(f"the platform in {data_dir} already runs: its login limit is the one it started with")
            state = PlatformState.load(Layout.at(data_dir).state_path)
            if state is None:
                raise SystemExit(f"no platform state in {data_dir}")
            host = f"http://127.0.0.1:{state.gateway_port}"
        out.mkdir(parents=True, exist_ok=True)
        if arguments.accounts:
            accounts = Path(arguments.accounts).resolve()
        elif arguments.host:
            raise SystemExit("--host needs --accounts: the file `luckygas load accounts` wrote for that platform")
        else:
            made = luckygas("load", "accounts", "--users", str(arguments.users), "--data-dir", str(data_dir))
            if made.returncode != 0:
                raise SystemExit(f"luckygas load accounts failed ({made.returncode})")
            accounts = out / "accounts.json"
        print(
            f"locust: {arguments.users} users, {arguments.spawn_rate:.2f}/s, {arguments.duration} against {host}; "
            f"reports in {out}"
        )
        machine = run_locust(arguments, host, accounts, out)
        results_path = out / "results.json"
        if not results_path.exists():
            print((out / "locust-output.txt").read_text()[-3000:])
            raise SystemExit(f"locust wrote no results (exit {machine['locust_exit_code']}); see {out}/locust.log")
        results = json.loads(results_path.read_text())
        passed = print_summary(results, machine, arguments.users, arguments.duration)
        summary = {
            "users": arguments.users,
            "duration": arguments.duration,
            "host": host,
            "machine": machine,
            "gates": [{"what": w, "passed": ok, "figures": f} for w, ok, f in gates(results)],
            "passed": passed,
            "results": results,
        }
        (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
        print(f"\nsummary: {out / 'summary.json'}; Locust's report: {out / 'report.html'}")
        return 0 if passed or arguments.report_only else 1
    finally:
        if started_here:
            luckygas("down", "--data-dir", str(data_dir))


if __name__ == "__main__":
    sys.exit(main())
