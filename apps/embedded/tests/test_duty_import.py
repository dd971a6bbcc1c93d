"""`riskwatch duty import` against notify's API in-process: every center posted on its own and
reported, a second run changes nothing, a refused caller stops the import."""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from asgi_lifespan import LifespanManager
from fastapi import Depends

from riskwatch.common.audit.emit import bind_outbox
from riskwatch.common.settings import DatabaseSettings
from riskwatch.common.testing import migrate
from riskwatch.embedded import cli
from riskwatch.notify.app import create_app
from riskwatch.notify.duty import import_router
from riskwatch.notify.models import outbox
from riskwatch.notify.module import MIGRATIONS
from riskwatch.notify.settings import NotifySettings

from .inprocess import InProcess

DAY_NIGHT = [
    {"name": "day", "start": "08:30", "end": "17:30"},
    {"name": "night", "start": "17:30", "end": "08:30"},
]


Notify = InProcess


@pytest.fixture(scope="module")
async def notify_db(make_database: Callable[[str], str]) -> str:
    url = make_database("embedded_duty_import")
    await migrate(url, [MIGRATIONS])
    return url


@pytest.fixture
async def notify(notify_db: str) -> AsyncIterator[Notify]:
    settings = NotifySettings(bus="memory", database=DatabaseSettings(url=notify_db))
    app = create_app(settings)
    if not any(getattr(r, "path", "") == cli.DUTY_IMPORT for r in app.routes):
        # Until notify's module mounts it: as build_app mounts a module's routers.
        app.include_router(import_router.router, dependencies=[Depends(bind_outbox(outbox))])
    async with LifespanManager(app) as manager:
        yield Notify(app, httpx.ASGITransport(app=manager.app), settings.auth)


def arguments(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli._duty_import_arguments(parser)
    return parser.parse_args(list(argv))


def read_report(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def member(person_id: str, phone: str) -> dict[str, str]:
    return {"person_id": person_id, "name": person_id.title(), "phone": phone}


def street(town_id: str, *people: dict[str, str], **fields: Any) -> dict[str, Any]:
    return {
        "id": f"street-{town_id}",
        "name": f"{town_id.title()} duty center",
        "kind": "street",
        "town_id": town_id,
        "members": list(people),
        "roster": "default",
        **fields,
    }


async def test_each_center_is_posted_and_reported_and_again_changes_nothing(
    notify: Notify, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = await notify.token("importer", "business_admin")
    document = {
        "roster_defaults": {"templates": DAY_NIGHT, "first_day": "today", "days": 3},
        "centers": [
            street("sanlin", member("cli.a", "+8610000000801"), member("cli.b", "+8610000000802")),
            street("atlantis", member("cli.c", "+8610000000803")),  # refused by the API
            street("huamu", member("cli.d", "+8610000000804"), leader="nobody"),  # by the file
            street("tangqiao", member("cli.e", "+8610000000805"), fallback_id="street-sanlin"),
        ],
    }
    source = tmp_path / "centers.yaml"
    source.write_text(yaml.safe_dump(document), encoding="utf-8")
    run = arguments(str(source), "--url", "http://test", "--token", token)

    assert await cli.duty_import(run, transport=notify.transport) == 1
    report = read_report(tmp_path / "centers.report.csv")
    assert [(r["row"], r["duty_center_id"], r["status"]) for r in report] == [
        ("1", "street-sanlin", "created"),
        ("2", "street-atlantis", "failed"),
        ("3", "street-huamu", "failed"),
        ("4", "street-tangqiao", "created"),
    ]
    assert report[0]["roster"] == "published"
    assert report[0]["notifications"] == "4"  # two people, in the app and by SMS
    assert report[1]["reason"] == "No town 'atlantis' in the catalog."
    assert report[2]["reason"] == "the leader 'nobody' is not one of the members"
    out = capsys.readouterr().out
    assert "row 2  street-atlantis  failed: No town 'atlantis' in the catalog." in out
    assert "4 center(s): 2 created, 0 updated, 0 unchanged, 2 failed; 2 roster(s) published" in out

    # Again, as JSON and without the refused ones: nothing changes, nobody is told again.
    document["centers"] = [document["centers"][0], document["centers"][3]]  # type: ignore[index]
    again = tmp_path / "centers.json"
    again.write_text(json.dumps(document), encoding="utf-8")
    rerun = arguments(str(again), "--url", "http://test", "--token", token)
    assert await cli.duty_import(rerun, transport=notify.transport) == 0
    assert [(r["status"], r["roster"], r["notifications"]) for r in read_report(
        tmp_path / "centers.report.csv"
    )] == [("unchanged", "kept", "0")] * 2  # fmt: skip
    assert "2 unchanged, 0 failed; 0 roster(s) published" in capsys.readouterr().out


async def test_a_caller_the_api_refuses_or_a_bad_file_stops_the_import(
    notify: Notify, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "one.yml"
    source.write_text(
        yaml.safe_dump(
            {"centers": [street("sanlin", member("x.a", "+8610000000811"), roster=None)]}
        ),
        "utf-8",
    )
    handler = await notify.token("a-handler", "handler")
    args = arguments(str(source), "--url", "http://test", "--token", handler)
    assert await cli.duty_import(args, transport=notify.transport) == 2
    assert "the API refuses this caller: This needs the permission duty:manage." in (
        capsys.readouterr().err
    )
    town = await notify.token("town-head", "department_head", scope="town:sanlin")
    args = arguments(str(source), "--url", "http://test", "--token", town)
    assert await cli.duty_import(args, transport=notify.transport) == 2
    assert "district-wide accounts" in capsys.readouterr().err

    for name, text in [
        ("a.txt", "centers: []"),
        ("b.yaml", "centers: ["),
        ("c.json", "[]"),
        ("d.yaml", "centers: []"),
    ]:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        args = arguments(str(path), "--token", "t")
        assert await cli.duty_import(args, transport=notify.transport) == 2, name
        assert f"riskwatch duty import: {path}: " in capsys.readouterr().err
    assert await cli.duty_import(arguments(str(source)), transport=notify.transport) == 2
    assert "--password or --token needed" in capsys.readouterr().err
