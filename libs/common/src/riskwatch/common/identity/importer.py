"""`riskwatch accounts import FILE`: open many accounts at once (the district opens the 36
towns' in one go) from a CSV or YAML file, through the HTTP API, so that permissions, scopes,
the password policy and the audit trail apply as to any administrator's request.

Columns: username, display_name, roles (semicolon-separated in CSV, a list or that string in
YAML), scope, phone (optional), password (optional: a random compliant one is generated and
appended to a file readable by its owner only, next to the report, never printed). Rows are
numbered from 1, the first after the CSV header or the first item of the YAML list.

Idempotent: an account that exists with the same fields is "unchanged"; one that exists with
other fields is reported as "differs" and left alone. The report lists every row; the command
exits 1 when a row failed or differs, 2 when it could not run at all.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO
from urllib.parse import quote

import httpx
import yaml

from riskwatch.common.identity.policy import generate_password

ACCOUNTS = "/api/v1/accounts"
TOKEN = "/api/v1/auth/token"  # noqa: S105 - a URL path, not a secret
FIELDS = ("username", "display_name", "roles", "scope", "phone", "password")
COMPARED = ("display_name", "roles", "scope", "phone")

Status = Literal["created", "unchanged", "differs", "failed"]
FAILED: frozenset[Status] = frozenset({"differs", "failed"})


class ImportAborted(Exception):
    """Nothing more can be done (the file is unreadable, the API refuses the caller)."""


@dataclass(frozen=True, slots=True)
class Row:
    number: int
    fields: dict[str, Any]

    @property
    def username(self) -> str:
        return str(self.fields.get("username") or "")


@dataclass(frozen=True, slots=True)
class Outcome:
    row: int
    username: str
    status: Status
    reason: str = ""


# Reading the file ----------------------------------------------------------------------------


def read_rows(path: Path) -> list[Row]:
    """The rows of a .csv, .yaml or .yml file, fields normalised (roles a list, blanks None)."""
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM: a CSV saved by a spreadsheet
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportAborted(f"cannot read {path}: {exc}") from exc
    if suffix == ".csv":
        raw: list[Any] = list(csv.DictReader(text.splitlines()))
    elif suffix in (".yaml", ".yml"):
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ImportAborted(f"{path} is not valid YAML: {exc}") from exc
        if isinstance(loaded, Mapping):
            loaded = loaded.get("accounts")
        if not isinstance(loaded, list):
            raise ImportAborted(f"{path}: expected a list of accounts (or `accounts:` with one)")
        raw = loaded
    else:
        raise ImportAborted(f"{path}: a .csv, .yaml or .yml file is expected")
    return [Row(number, _normalise(item)) for number, item in enumerate(raw, start=1)]


def _normalise(item: Any) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        return {"_error": "not a mapping of column to value"}
    fields: dict[str, Any] = {}
    for name in FIELDS:
        value = item.get(name)
        if name == "roles":
            fields[name] = _roles(value)
        elif value is None or (isinstance(value, str) and not value.strip()):
            fields[name] = None
        else:
            fields[name] = str(value).strip() if name != "password" else str(value)
    return fields


def _roles(value: Any) -> list[str]:
    if value is None:
        return []
    parts = value if isinstance(value, list) else str(value).split(";")
    return [str(p).strip() for p in parts if str(p).strip()]


# Talking to the API --------------------------------------------------------------------------


async def log_in(client: httpx.AsyncClient, *, username: str, password: str) -> str:
    response = await client.post(TOKEN, data={"username": username, "password": password})
    if response.status_code != 200:
        raise ImportAborted(f"login as {username} refused: {problem_text(response)}")
    token: str = response.json()["access_token"]
    return token


def problem_text(response: httpx.Response) -> str:
    """A problem+json answer in one line: its detail and what failed validation (which names
    fields and rules, never the values sent)."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    text = str(body.get("detail") or body.get("title") or f"HTTP {response.status_code}")
    errors = body.get("errors")
    if isinstance(errors, list) and errors and "code" not in errors[0]:
        text += " " + "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', [])[1:]) or 'body'}: {e.get('msg', '')}"
            for e in errors
            if isinstance(e, dict)
        )
    return text


def _differences(row: Row, existing: Mapping[str, Any]) -> list[str]:
    wanted = row.fields
    found = []
    for name in COMPARED:
        if name == "roles":
            if set(wanted["roles"]) != set(existing.get("roles") or []):
                found.append(name)
        elif (wanted.get(name) or None) != (existing.get(name) or None):
            found.append(name)
    return found


@dataclass
class Importer:
    """Imports rows one by one; `generated` receives (username, password) of each account
    created with a generated password, at once (a crash later loses none)."""

    client: httpx.AsyncClient
    generated: Callable[[str, str], None]
    outcomes: list[Outcome] = field(default_factory=list)

    async def run(self, rows: list[Row], *, progress: Callable[[int], None]) -> list[Outcome]:
        for done, row in enumerate(rows, start=1):
            self.outcomes.append(await self.one(row))
            progress(done)
        return self.outcomes

    async def one(self, row: Row) -> Outcome:
        if "_error" in row.fields:
            return Outcome(row.number, "", "failed", row.fields["_error"])
        username = row.username
        if not username:
            return Outcome(row.number, "", "failed", "no username")
        existing = await self._get(username)
        if existing is not None:
            return self._compare(row, existing)
        password = row.fields.get("password")
        body = {k: v for k, v in row.fields.items() if k != "password" and v is not None}
        body["password"] = password or generate_password()
        response = await self.client.post(ACCOUNTS, json=body)
        if response.status_code == 201:
            if not password:
                self.generated(username, body["password"])
            return Outcome(row.number, username, "created")
        self._abort_if_refused(response)
        if response.status_code == 409:  # created meanwhile, or outside the caller's scope
            existing = await self._get(username)
            if existing is not None:
                return self._compare(row, existing)
            return Outcome(
                row.number, username, "failed", "the username is taken outside your scope"
            )
        return Outcome(row.number, username, "failed", problem_text(response))

    async def _get(self, username: str) -> dict[str, Any] | None:
        response = await self.client.get(f"{ACCOUNTS}/{quote(username, safe='')}")
        if response.status_code == 200:
            found: dict[str, Any] = response.json()
            return found
        self._abort_if_refused(response)
        if response.status_code in (404, 422):  # 422: not even a possible username
            return None
        raise ImportAborted(f"GET account {username}: {problem_text(response)}")

    def _compare(self, row: Row, existing: Mapping[str, Any]) -> Outcome:
        differing = _differences(row, existing)
        if not differing:
            return Outcome(row.number, row.username, "unchanged")
        return Outcome(
            row.number,
            row.username,
            "differs",
            "exists, differs: " + ", ".join(differing) + " (left as is)",
        )

    @staticmethod
    def _abort_if_refused(response: httpx.Response) -> None:
        if response.status_code == 401 or (
            response.status_code == 403 and "needs the permission" in problem_text(response)
        ):
            raise ImportAborted(f"the API refuses this caller: {problem_text(response)}")


# Files and the terminal ----------------------------------------------------------------------


def report_path_for(source: Path) -> Path:
    return source.with_name(source.stem + ".report.csv")


def passwords_path_for(report: Path) -> Path:
    return report.with_name(
        report.name.removesuffix(".report.csv").removesuffix(".csv") + ".passwords.csv"
    )


@contextmanager
def generated_passwords(path: Path) -> Iterator[Callable[[str, str], None]]:
    """Append (username, password) lines to `path`, created readable by its owner only; the
    file is opened on the first password, so an import that generates none leaves none."""
    handle: TextIO | None = None

    def add(username: str, password: str) -> None:
        nonlocal handle
        if handle is None:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.fchmod(fd, 0o600)  # also when it existed with wider rights
            handle = os.fdopen(fd, "w", encoding="utf-8", newline="")
            if handle.tell() == 0:
                csv.writer(handle).writerow(["username", "password"])
        csv.writer(handle).writerow([username, password])
        handle.flush()

    try:
        yield add
    finally:
        if handle is not None:
            handle.close()


def write_report(path: Path, outcomes: list[Outcome]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["row", "username", "status", "reason"])
        writer.writerows((o.row, o.username, o.status, o.reason) for o in outcomes)


class Progress:
    """A bar on a terminal; nothing when the output is a file or a pipe."""

    def __init__(self, total: int, stream: TextIO, *, enabled: bool | None = None) -> None:
        self.total = total
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled

    def __call__(self, done: int) -> None:
        if not self.enabled or not self.total:
            return
        width = 30
        filled = width * done // self.total
        self.stream.write(f"\r  [{'#' * filled}{'.' * (width - filled)}] {done}/{self.total}")
        if done == self.total:
            self.stream.write("\n")
        self.stream.flush()


async def import_file(
    path: Path,
    *,
    client: httpx.AsyncClient,
    report: Path | None = None,
    out: TextIO | None = None,
    progress: bool | None = None,
) -> int:
    """Import `path` with `client` (authorised already); the exit code of the command."""
    out = out or sys.stdout
    rows = read_rows(path)
    report = report or report_path_for(path)
    passwords = passwords_path_for(report)
    with generated_passwords(passwords) as generated:
        importer = Importer(client, generated)
        try:
            await importer.run(rows, progress=Progress(len(rows), sys.stderr, enabled=progress))
        finally:
            write_report(report, importer.outcomes)
    outcomes = importer.outcomes
    counts = Counter(o.status for o in outcomes)
    for o in outcomes:
        if o.status in FAILED:
            out.write(f"  row {o.row}  {o.username or '-'}  {o.status}: {o.reason}\n")
    summary = ", ".join(f"{counts[s]} {s}" for s in ("created", "unchanged", "differs", "failed"))
    out.write(f"{len(outcomes)} row(s): {summary}. Report: {report}\n")
    if any(o.status == "created" for o in outcomes) and passwords.exists():
        out.write(f"Generated passwords (readable by you only): {passwords}\n")
    return 1 if counts["differs"] or counts["failed"] else 0


# The command ---------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `riskwatch accounts import`."""
    parser.add_argument("file", type=Path, help="a .csv or .yaml file of accounts")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the issuer's URL")
    parser.add_argument("--username", default="admin", help="an administrator to log in as")
    parser.add_argument(
        "--password", default=os.environ.get("RW_ADMIN_PASSWORD"), help="(RW_ADMIN_PASSWORD)"
    )
    parser.add_argument(
        "--token", default=os.environ.get("RW_TOKEN"), help="a bearer token instead (RW_TOKEN)"
    )
    parser.add_argument(
        "--report", type=Path, default=None, help="where to write the report (FILE.report.csv)"
    )


async def run(
    args: argparse.Namespace, *, transport: httpx.AsyncBaseTransport | None = None
) -> int:
    """`riskwatch accounts import`, from parsed arguments."""
    try:
        async with httpx.AsyncClient(base_url=args.url, timeout=30, transport=transport) as client:
            token = args.token
            if not token:
                if not args.password:
                    sys.stderr.write("riskwatch accounts import: --password or --token needed\n")
                    return 2
                token = await log_in(client, username=args.username, password=args.password)
            client.headers["Authorization"] = f"Bearer {token}"
            return await import_file(args.file, client=client, report=args.report)
    except ImportAborted as exc:
        sys.stderr.write(f"riskwatch accounts import: {exc}\n")
        return 2
    except httpx.HTTPError as exc:
        sys.stderr.write(f"riskwatch accounts import: {args.url}: {type(exc).__name__} {exc}\n")
        return 2
