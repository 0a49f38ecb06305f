#!/usr/bin/env python3
"""Load several servers with wrk, interleaved, and report medians and ratios to the first one.

    python3 bench/lib/loadrun.py \\
        --target baseline=http://127.0.0.1:8001@bench/baseline/endpoints.json \\
        --target project=http://127.0.0.1:8002@/tmp/my-endpoints.json \\
        [--only a,b] [--duration 10] [--runs 3] [--warmup 2] [--connections 64] [--out result.json]

An endpoints file is a JSON list of requests:

    {"name": "tickets-list",          row name in the report
     "compare": "slots",              the first target's request it is measured beside (default: name)
     "method": "GET", "path": "/api/v1/tickets?page={rand:1:5}",
     "body": "...", "headers": "Authorization: Bearer ...|X-Other: v",
     "before": "shell command run (from the repository root) before every run, e.g. a reset"}

`{rand:A:B}`, `{date:YYYY-MM-DD:N}` and `{pick:a,b,c}` are drawn per request by bench/lib/wrk.lua;
`{env:NAME}` or `{env:NAME:default}` is filled in once from the environment. The first target is
the reference: for each row of the other targets, its `compare` request runs in the same rounds,
and the row's ratio is the row's median divided by the reference's median of those rounds. Rounds
alternate target by target, run by run, so that a machine that slows down slows every target alike.

Bounded: a run lasts at most 60 s, at most 10 runs a row, every wrk call has a hard timeout, and
only loopback targets are accepted. Importable: `measure(targets, ...)` returns the rows and
`table(rows)` renders them.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

LIB = Path(__file__).resolve().parent
ROOT = LIB.parent.parent
LUA = LIB / "wrk.lua"
LOOPBACK = ("127.", "localhost", "::1")
MAX_SECONDS, MAX_RUNS = 60, 10


@dataclass
class Target:
    name: str
    url: str
    endpoints: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str) -> "Target":
        """`name=url@endpoints.json` (the endpoints file may be relative to the repository root)."""
        name, _, rest = spec.partition("=")
        url, _, path = rest.partition("@")
        if not name or not url or not path:
            raise SystemExit(f"--target wants name=url@endpoints.json, got {spec!r}")
        file = Path(path) if Path(path).exists() else ROOT / path
        return cls(name, url, {ep["name"]: ep for ep in json.loads(file.read_text())})

    def __post_init__(self) -> None:
        host = urlparse(self.url).hostname or ""
        if not host.startswith(LOOPBACK):
            raise SystemExit(f"refusing a target that is not on loopback: {self.url}")
        self.url = self.url.rstrip("/")


def fill_env(text: str) -> str:
    def value(match: re.Match[str]) -> str:
        found = os.environ.get(match.group(1), match.group(2))
        if found is None:
            raise SystemExit(f"an endpoint template needs ${match.group(1)}")
        return found

    return re.sub(r"\{env:([A-Za-z_]\w*)(?::([^{}]*))?\}", value, text)


def wrk(url: str, endpoint: dict[str, str], *, seconds: int, connections: int, threads: int) -> dict[str, float]:
    env = {
        **os.environ,
        "LOAD_METHOD": endpoint.get("method", "GET"),
        "LOAD_PATH": fill_env(endpoint["path"]),
        "LOAD_BODY": fill_env(endpoint.get("body", "")),
        "LOAD_HEADERS": fill_env(endpoint.get("headers", "")),
    }
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "2s", "-s", str(LUA), url]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 30, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("LOADJSON "):
            result: dict[str, float] = json.loads(line.removeprefix("LOADJSON "))
            return result
    raise RuntimeError(f"wrk gave no result for {url}{endpoint['path']}: {done.stdout[-400:]} {done.stderr[-400:]}")


def before(endpoint: dict[str, str]) -> None:
    if command := endpoint.get("before"):
        subprocess.run(command, shell=True, cwd=ROOT, check=True, timeout=120, stdout=subprocess.DEVNULL)


def plan(targets: list[Target], only: list[str]) -> list[tuple[str, list[tuple[Target, dict[str, str]]]]]:
    """Rows: each a name and the (target, request) pairs measured in its rounds, the reference first."""
    reference, others = targets[0], targets[1:]
    names = list(dict.fromkeys(name for t in others for name in t.endpoints)) if others else list(reference.endpoints)
    rows = []
    for name in names:
        if only and name not in only:
            continue
        pairs = [(t, t.endpoints[name]) for t in others if name in t.endpoints]
        compare = pairs[0][1].get("compare", name) if pairs else name
        if compare in reference.endpoints:
            pairs.insert(0, (reference, reference.endpoints[compare]))
        elif others:
            print(f"  {name}: the reference has no {compare!r}; measured without a ratio", file=sys.stderr)
        rows.append((name, pairs))
    return rows


def measure(
    targets: list[Target],
    *,
    only: Sequence[str] = (),
    seconds: int = 10,
    runs: int = 3,
    warmup: int = 2,
    connections: int = 64,
    threads: int = 1,
) -> list[dict[str, Any]]:
    if not 0 < seconds <= MAX_SECONDS or not 0 < runs <= MAX_RUNS or not 0 <= warmup <= MAX_SECONDS:
        raise SystemExit(f"a run lasts 1-{MAX_SECONDS} s, at most {MAX_RUNS} runs, warm-up 0-{MAX_SECONDS} s")
    reference = targets[0].name
    report: list[dict[str, Any]] = []
    for name, pairs in plan(targets, list(only)):
        if warmup:
            for target, endpoint in pairs:
                before(endpoint)
                wrk(target.url, endpoint, seconds=warmup, connections=connections, threads=threads)
        results: dict[str, list[dict[str, float]]] = {}
        for run in range(runs):
            for target, endpoint in pairs:
                before(endpoint)
                got = wrk(target.url, endpoint, seconds=seconds, connections=connections, threads=threads)
                results.setdefault(target.name, []).append(got)
                print(
                    f"  {name:14s} {target.name:12s} run {run + 1}: {got['rps']:9.1f} req/s"
                    f"  p50 {got['p50_ms']:7.2f} ms  p99 {got['p99_ms']:7.2f} ms"
                    f"  non-2xx {got['non2xx']:.0f}  socket errors {got['socket_errors'] + got['timeouts']:.0f}",
                    file=sys.stderr,
                    flush=True,
                )
        base = results.get(reference) if len(targets) > 1 else None
        for target, endpoint in pairs:
            got_runs = results[target.name]

            def median(key: str, runs_: list[dict[str, float]] = got_runs) -> float:
                return statistics.median(r[key] for r in runs_)

            row: dict[str, Any] = {
                "row": name,
                "target": target.name,
                "request": endpoint["name"],
                "runs": len(got_runs),
                "rps": median("rps"),
                "rps_min": min(r["rps"] for r in got_runs),
                "rps_max": max(r["rps"] for r in got_runs),
                "p50_ms": median("p50_ms"),
                "p99_ms": median("p99_ms"),
                "non2xx_share": median("non2xx") / max(1.0, median("requests")),
                "socket_errors": sum(r["socket_errors"] + r["timeouts"] for r in got_runs),
            }
            if base and target.name != reference:
                row["rps_ratio"] = row["rps"] / statistics.median(r["rps"] for r in base)
                row["p99_ratio"] = row["p99_ms"] / statistics.median(r["p99_ms"] for r in base)
            report.append(row)
    return report


def table(rows: list[dict[str, Any]], title: str = "") -> str:
    lines = [
        f"### {title}" if title else "### load",
        "",
        "| row | target | request | req/s (median) | min-max | p50 ms | p99 ms | non-2xx | errors"
        " | ratio req/s | ratio p99 |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = f"**{r['rps_ratio']:.2f}x**" if "rps_ratio" in r else "ref"
        p99 = f"{r['p99_ratio']:.2f}" if "p99_ratio" in r else ""
        lines.append(
            f"| {r['row']} | {r['target']} | {r['request']} | {r['rps']:,.0f} | {r['rps_min']:,.0f}-{r['rps_max']:,.0f}"
            f" | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['non2xx_share']:.0%} | {r['socket_errors']}"
            f" | {ratio} | {p99} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", action="append", required=True, help="name=url@endpoints.json; first = reference")
    parser.add_argument("--only", default="", help="comma-separated row names")
    parser.add_argument("--duration", type=int, default=int(os.environ.get("DURATION", "10")))
    parser.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", "3")))
    parser.add_argument("--warmup", type=int, default=int(os.environ.get("WARMUP", "2")))
    parser.add_argument("--connections", type=int, default=int(os.environ.get("CONNECTIONS", "64")))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("THREADS", "1")))
    parser.add_argument("--title", default="")
    parser.add_argument("--out", default="", help="write the rows (and the settings) as JSON here")
    args = parser.parse_args()
    targets = [Target.parse(spec) for spec in args.target]
    started = time.monotonic()
    rows = measure(
        targets,
        only=[name for name in args.only.split(",") if name],
        seconds=args.duration,
        runs=args.runs,
        warmup=args.warmup,
        connections=args.connections,
        threads=args.threads,
    )
    title = (
        f"{args.title + ': ' if args.title else ''}median of {args.runs} x {args.duration} s, "
        f"{args.connections} connections, {args.threads} wrk thread(s), ratios to {targets[0].name} "
        f"in the same rounds; {time.monotonic() - started:.0f} s, load {os.getloadavg()[0]:.1f}"
    )
    print(table(rows, title))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"settings": vars(args), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
