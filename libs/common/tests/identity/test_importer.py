"""`riskwatch accounts import` against a running issuer: the district opens its 36 towns'
accounts in one go, a second run changes nothing, and every bad row is reported."""

from __future__ import annotations

import argparse
import csv
import io
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from riskwatch.common.catalog import default_catalog
from riskwatch.common.identity import importer

from .conftest import ADMIN_PASSWORD, Issuer, login, new_address, unique


def arguments(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    importer.add_arguments(parser)
    return parser.parse_args(list(argv))


async def run(issuer: Issuer, *argv: str) -> int:
    transport = httpx.ASGITransport(app=issuer.app, client=(new_address(), 40000))
    return await importer.run(
        arguments(
            *argv, "--url", "http://test", "--username", "admin", "--password", ADMIN_PASSWORD
        ),
        transport=transport,
    )


def read_report(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


async def test_the_district_opens_36_towns_in_one_go_and_again_changes_nothing(
    issuer: Issuer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = unique("t")
    towns = default_catalog().towns
    source = tmp_path / "towns.csv"
    with source.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["username", "display_name", "roles", "scope", "phone"])
        for town in towns:
            writer.writerow(
                [f"{tag}-{town.id}", f"{town.name_zh} 处置员", "handler;department_head",
                 f"town:{town.id}", "13800138000"]
            )  # fmt: skip

    assert await run(issuer, str(source)) == 0
    report = read_report(tmp_path / "towns.report.csv")
    assert [r["status"] for r in report] == ["created"] * len(towns) == ["created"] * 36
    passwords = tmp_path / "towns.passwords.csv"
    assert stat.S_IMODE(passwords.stat().st_mode) == 0o600
    generated = dict(csv.reader(passwords.open(encoding="utf-8")))
    assert len(generated) == 36 + 1  # and the header
    printed = capsys.readouterr()
    for password in list(generated.values())[1:]:
        assert password not in printed.out + printed.err
    # A generated password opens the account, whose owner must then choose its own.
    first = f"{tag}-{towns[0].id}"
    response = await login(await issuer.client(), first, generated[first])
    assert response.status_code == 403
    assert response.json()["type"].endswith("/password-change-required")

    assert await run(issuer, str(source)) == 0
    assert [r["status"] for r in read_report(tmp_path / "towns.report.csv")] == ["unchanged"] * 36
    assert len(list(csv.reader(passwords.open(encoding="utf-8")))) == 37  # nothing generated
    assert "36 unchanged" in capsys.readouterr().out


async def test_every_bad_row_is_reported_and_nothing_existing_is_overwritten(
    issuer: Issuer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tag = unique("y")
    source = tmp_path / "accounts.yaml"
    rows: list[Any] = [
        {"username": f"{tag}-ok", "display_name": "OK", "roles": ["leader"], "scope": "district",
         "password": "Chosen-By-Import-1"},
        {"username": f"{tag}-role", "display_name": "Role", "roles": "overlord",
         "scope": "district"},
        {"username": f"{tag}-town", "display_name": "Town", "roles": "handler",
         "scope": "town:atlantis"},
        {"display_name": "No name", "roles": "handler", "scope": "district"},
        {"username": f"{tag}-weak", "display_name": "Weak", "roles": "handler",
         "scope": "district", "password": "password123"},
        "not a mapping",
    ]  # fmt: skip
    source.write_text(yaml.safe_dump({"accounts": rows}, allow_unicode=True), encoding="utf-8")

    assert await run(issuer, str(source)) == 1
    report = read_report(tmp_path / "accounts.report.csv")
    assert [(r["row"], r["status"]) for r in report] == [
        ("1", "created"),
        ("2", "failed"),
        ("3", "failed"),
        ("4", "failed"),
        ("5", "failed"),
        ("6", "failed"),
    ]
    assert "unknown role" in report[1]["reason"]
    assert "Unknown town" in report[2]["reason"]
    assert report[3]["reason"] == "no username"
    assert "password policy" in report[4]["reason"]
    assert "password123" not in report[4]["reason"]
    out = capsys.readouterr().out
    assert f"row 2  {tag}-role  failed" in out
    assert "1 created, 0 unchanged, 0 differs, 5 failed" in out
    assert not (tmp_path / "accounts.passwords.csv").exists()  # none generated

    # The same account with other fields: reported, left alone.
    changed = tmp_path / "changed.yml"
    changed.write_text(
        yaml.safe_dump([{**rows[0], "display_name": "Renamed", "roles": "leader;handler"}]),
        encoding="utf-8",
    )
    assert await run(issuer, str(changed), "--report", str(tmp_path / "out.csv")) == 1
    [differs] = read_report(tmp_path / "out.csv")
    assert differs["status"] == "differs"
    assert differs["reason"] == "exists, differs: display_name, roles (left as is)"
    client = await issuer.client()
    current = await client.get(f"/api/v1/accounts/{tag}-ok", headers=issuer.headers())
    assert current.json()["display_name"] == "OK"


async def test_a_caller_the_api_refuses_stops_the_import(
    issuer: Issuer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "a.csv"
    source.write_text("username,display_name,roles,scope\nx1,X,handler,district\n", "utf-8")
    transport = httpx.ASGITransport(app=issuer.app, client=(new_address(), 40000))
    handler_token = issuer.headers(roles=("handler",))["Authorization"].removeprefix("Bearer ")
    args = arguments(str(source), "--url", "http://test", "--token", handler_token)
    assert await importer.run(args, transport=transport) == 2
    assert "needs the permission accounts:read" in capsys.readouterr().err
    wrong = arguments(str(source), "--url", "http://test", "--password", "Wrong-Password-1")
    assert await importer.run(wrong, transport=transport) == 2
    assert "login as admin refused" in capsys.readouterr().err
    assert await importer.run(arguments(str(tmp_path / "a.txt"), "--token", "t")) == 2


def test_the_progress_bar_draws_on_a_terminal_only() -> None:
    drawn = io.StringIO()
    bar = importer.Progress(4, drawn, enabled=True)
    for done in range(1, 5):
        bar(done)
    assert drawn.getvalue().endswith("[" + "#" * 30 + "] 4/4\n")
    assert "\r  [" + "#" * 7 + "." * 23 + "] 1/4" in drawn.getvalue()
    silent = io.StringIO()
    importer.Progress(4, silent)(1)  # a StringIO is no terminal
    assert silent.getvalue() == ""
