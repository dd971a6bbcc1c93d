"""How fast `riskwatch devices import` loads devices into a running RiskWatch: it writes a CSV
of N construction gas wells (every column, a location, an address, an owner unit, a gateway),
imports it (all created), imports it again (all unchanged), changes every row's address and
imports it a third time (all updated), and prints the wall time and rows per second of each
run, measured around the whole command (reading the file, login excepted, every chunk's
request and the report) with time.perf_counter.

    uv run riskwatch run --no-simulate            # elsewhere; or any ingest URL
    uv run python bench/device_import.py --url http://127.0.0.1:8000 \\
        --username tech --password "$(cat .riskwatch/demo-password)" --rows 10000
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import tempfile
import time
from pathlib import Path

import httpx

from riskwatch.common.identity import importer as accounts_import
from riskwatch.embedded import cli

TOWNS = ("lujiazui", "zhangjiang", "huamu", "chuansha", "tangqiao", "sanlin")


def write_devices(path: Path, rows: int, *, prefix: str, address: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["device_id", "name", "scenario_id", "town_id", "site", "lon", "lat", "address",
             "owner_unit", "gateway_id"]
        )  # fmt: skip
        for i in range(rows):
            town = TOWNS[i % len(TOWNS)]
            writer.writerow(
                [f"{prefix}-{i:06}", f"燃气阀门井 {i}", "gas", town, f"井 {i}",
                 f"{121.45 + (i % 1000) / 10_000:.6f}", f"{31.15 + (i // 1000) / 1_000:.6f}",
                 f"{address} {i} 号", f"street-{town}", f"dtu-{town}-{i % 50:02}"]
            )  # fmt: skip


async def timed_import(args: argparse.Namespace, source: Path, token: str) -> dict[str, object]:
    namespace = argparse.Namespace(
        file=source, url=args.url, issuer_url=None, username=None, password=None, token=token,
        chunk=args.chunk, report=None,
    )  # fmt: skip
    started = time.perf_counter()
    code = await cli.devices_import(namespace)
    seconds = time.perf_counter() - started
    return {"exit": code, "seconds": round(seconds, 3), "rows_per_s": round(args.rows / seconds)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--username", default="tech")
    parser.add_argument("--password", required=True)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--prefix", default=f"bench-import-{int(time.time())}")
    args = parser.parse_args()
    async with httpx.AsyncClient(base_url=args.url, timeout=30) as client:
        token = await accounts_import.log_in(client, username=args.username, password=args.password)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "devices.csv"
        write_devices(source, args.rows, prefix=args.prefix, address="陆家嘴环路")
        results["created"] = await timed_import(args, source, token)
        results["unchanged"] = await timed_import(args, source, token)
        write_devices(source, args.rows, prefix=args.prefix, address="世纪大道")
        results["updated"] = await timed_import(args, source, token)
    print(json.dumps({"rows": args.rows, "chunk": args.chunk, **results}))


if __name__ == "__main__":
    asyncio.run(main())
