"""`riskwatch devices import` against ingest's API in-process on real PostgreSQL: a CSV of a
few hundred rows with bad ones among them and an XLSX file, chunked, with a progress bar, a
report of the rejected rows and the exit codes; a second run changes nothing."""

from __future__ import annotations

import argparse
import csv
import io
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from asgi_lifespan import LifespanManager

from riskwatch.common.app import ServiceModule, build_app
from riskwatch.common.bus import MemoryBus
from riskwatch.common.settings import DatabaseSettings
from riskwatch.common.testing import migrate
from riskwatch.embedded import cli
from riskwatch.ingest.module import MIGRATIONS, IngestModule
from riskwatch.ingest.settings import IngestSettings

from .inprocess import InProcess

HEADER = ["device_id", "name", "scenario_id", "town_id", "village_id", "site", "profile_id",
          "lon", "lat", "address", "owner_unit", "gateway_id"]  # fmt: skip
PROFILE = {
    "name": "Methane well sensor",
    "metrics": [{"metric": "ch4_lel", "unit": "%LEL", "min": 0, "max": 100, "precision": 1,
                 "interval_s": 60}],
}  # fmt: skip


Api = InProcess


@pytest.fixture(scope="module")
async def ingest_db(make_database: Callable[[str], str]) -> str:
    url = make_database("embedded_devices_import")
    await migrate(url, [MIGRATIONS])
    return url


@pytest.fixture
async def api(ingest_db: str) -> AsyncIterator[Api]:
    settings = IngestSettings(bus="memory", database=DatabaseSettings(url=ingest_db))
    modules: list[ServiceModule] = [IngestModule(settings)]
    app = build_app(title="ingest", settings=settings, modules=modules, bus=MemoryBus())
    async with LifespanManager(app) as manager:
        api = Api(app, httpx.ASGITransport(app=manager.app), settings.auth)
        token = await api.token("tech", "tech_admin")
        async with httpx.AsyncClient(transport=api.transport, base_url="http://test") as client:
            put = await client.put(
                "/api/v1/device-profiles/methane-v1",
                json=PROFILE,
                headers={"Authorization": f"Bearer {token}"},
            )
            assert put.status_code in (200, 201), put.text
        yield api


def arguments(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli._devices_import_arguments(parser)
    return parser.parse_args(list(argv))


def device(i: int, prefix: str = "gas-csv") -> list[str]:
    return [f"{prefix}-{i:04}", f"Valve well {i}", "gas", "lujiazui", "", f"Pit {i}",
            "methane-v1", f"{121.5 + i / 10_000:.4f}", f"{31.2 + i / 10_000:.4f}",
            f"{i} Lujiazui Ring Rd", "street-lujiazui", "dtu-lujiazui-1"]  # fmt: skip


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_report(path: Path) -> list[tuple[str, str, str]]:
    with path.open(encoding="utf-8") as f:
        return [(r["row"], r["device_id"], r["reason"]) for r in csv.DictReader(f)]


async def run(
    api: Api, args: argparse.Namespace, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    bar = io.StringIO()
    code = await cli.devices_import(args, transport=api.transport, progress=bar)
    return code, capsys.readouterr().out, bar.getvalue()


async def test_a_csv_goes_in_by_chunks_and_its_bad_rows_are_reported(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = await api.token("tech", "tech_admin")
    rows = [device(i) for i in range(1, 301)]
    rows[9][2] = "ufo"  # row 10: unknown scenario
    rows[99][7] = "east"  # row 100: lon is not a number
    rows[149][6] = "nope"  # row 150: unknown profile
    rows[199][0] = rows[4][0]  # row 200: the device of row 5 again, in another chunk
    rows[249][8] = ""  # row 250: lon without lat
    source = write_csv(tmp_path / "devices.csv", rows)
    args = arguments(str(source), "--url", "http://test", "--token", token, "--chunk", "64")

    code, out, bar = await run(api, args, capsys)
    assert code == 1
    assert "64/300" in bar  # drawn after each chunk
    assert "300/300" in bar
    assert out.endswith(
        f"300 row(s): 295 created, 0 updated, 0 unchanged, 5 rejected. "
        f"Report: {tmp_path / 'devices.report.csv'}\n"
    )
    report = read_report(tmp_path / "devices.report.csv")
    assert [(r, d) for r, d, _ in report] == [
        ("10", "gas-csv-0010"),
        ("100", "gas-csv-0100"),
        ("150", "gas-csv-0150"),
        ("200", "gas-csv-0005"),
        ("250", "gas-csv-0250"),
    ]
    assert report[0][2] == "Unknown scenario 'ufo'."
    assert report[1][2].startswith("lon: Input should be a valid number")
    assert report[2][2] == "Unknown device profile 'nope'."
    assert report[3][2] == "the device is also on row 5"
    assert "lon and lat go together" in report[4][2]
    assert "  row 10  gas-csv-0010  rejected: Unknown scenario 'ufo'." in out

    code, out, _ = await run(api, args, capsys)  # again: nothing changes
    assert code == 1
    assert "0 created, 0 updated, 295 unchanged, 5 rejected" in out

    fixed = write_csv(tmp_path / "fixed.csv", [device(i) for i in range(1, 301)])
    code, out, _ = await run(
        api, arguments(str(fixed), "--url", "http://test", "--token", token), capsys
    )
    assert code == 0
    assert "5 created, 0 updated, 295 unchanged, 0 rejected" in out
    assert read_report(tmp_path / "fixed.report.csv") == []


async def test_an_xlsx_file_goes_in_and_its_numbers_are_read_as_such(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = await api.token("tech", "tech_admin")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["device_id", "name", "scenario_id", "town_id", "lon", "lat", "address"])
    sheet.append([70001, "Bridge 1", "gas", "zhangjiang", 121.6, 31.2, "1 Zhangjiang Rd"])
    sheet.append(["gas-xlsx-2", "Bridge 2", "gas", "zhangjiang", 121.61, 31.21, None])
    sheet.append([None, None, None, None, None, None, None])  # an empty row: skipped
    sheet.append(["gas-xlsx-3", "Bridge 3", "gas", "zhangjiang", None, None, "3 Keyuan Rd"])
    source = tmp_path / "bridges.xlsx"
    workbook.save(source)
    report = tmp_path / "out" / "errors.csv"
    report.parent.mkdir()
    args = arguments(str(source), "--url", "http://test", "--token", token, "--report", str(report))

    code, out, bar = await run(api, args, capsys)
    assert code == 0, out
    assert "3 row(s): 3 created, 0 updated, 0 unchanged, 0 rejected" in out
    assert "3/3" in bar
    assert read_report(report) == []
    async with httpx.AsyncClient(transport=api.transport, base_url="http://test") as client:
        client.headers["Authorization"] = f"Bearer {token}"
        one = (await client.get("/api/v1/devices/70001")).json()
        assert (one["lon"], one["lat"], one["address"]) == (121.6, 31.2, "1 Zhangjiang Rd")
        two = (await client.get("/api/v1/devices/gas-xlsx-2")).json()
        assert two["address"] is None


@pytest.mark.parametrize(
    ("header", "suffix", "message"),
    [
        (["device_id", "name", "lng"], ".csv", "unknown column(s) lng"),
        (["name", "scenario_id"], ".csv", "no device_id column"),
        (["device_id", "device_id"], ".csv", "named twice"),
        (["device_id"], ".txt", "a .csv or .xlsx file is expected"),
    ],
)
async def test_a_file_that_cannot_be_read_is_a_usage_error(
    api: Api,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    header: list[str],
    suffix: str,
    message: str,
) -> None:
    source = write_csv(tmp_path / f"bad{suffix}", [], header=header)
    code = await cli.devices_import(arguments(str(source), "--token", "x"))
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "bad.report.csv").exists()


async def test_usage_errors_and_a_refused_caller_exit_2(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_csv(tmp_path / "few.csv", [device(1, "gas-few")])
    missing = await cli.devices_import(
        arguments(str(tmp_path / "none.csv"), "--token", "x"), transport=api.transport
    )
    assert missing == 2
    assert "cannot read it" in capsys.readouterr().err
    no_login = arguments(str(source), "--url", "http://test")
    no_login.password = no_login.token = None
    assert await cli.devices_import(no_login, transport=api.transport) == 2
    assert "--password (RW_PASSWORD) or --token (RW_TOKEN) needed" in capsys.readouterr().err
    reader = await api.token("lead", "tech_lead")  # devices:read only
    refused = arguments(str(source), "--url", "http://test", "--token", reader)
    assert await cli.devices_import(refused, transport=api.transport) == 2
    assert "the API refuses this caller" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        arguments(str(source), "--chunk", "0")
    assert usage.value.code == 2


def test_the_command_is_on_the_riskwatch_cli(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as shown:
        cli.main(["devices", "import", "--help"])
    assert shown.value.code == 0
    assert "Exit status: 0 every row went in" in capsys.readouterr().out


def test_the_rows_of_a_file_are_the_header_columns(tmp_path: Path) -> None:
    source = write_csv(
        tmp_path / "d.csv",
        [["gas-r-1", " Well 1 ", "", "", "", "", "\n"], ["", "", "", "", "", "", ""]],
        header=["device_id", "name", "town_id", "profile_id", "lon", "lat", "address"],
    )
    rows: list[dict[str, Any]] = cli.read_device_rows(source)
    assert rows == [
        {"device_id": "gas-r-1", "name": "Well 1", "profile_id": None, "lon": None,
         "lat": None, "address": None},
    ]  # fmt: skip
