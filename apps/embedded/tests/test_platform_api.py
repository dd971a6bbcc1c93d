"""The API of all five services, against what a new user may type: a NUL or a terminal escape in
any id, filter or text is a 422 problem, never a 500; and the OpenAPI document lists every error
a route answers as problem+json."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from riskwatch.common.access import ROLES
from riskwatch.common.errors import PROBLEM_JSON
from riskwatch.common.testing import account_bearer, app_client, migrate
from riskwatch.embedded.platform import create_platform, migration_dirs
from riskwatch.embedded.settings import EmbeddedSettings

# Text PostgreSQL cannot hold (NUL), and text that would forge a line or drive a terminal.
NUL = ["\u0000", "gas\u00001"]
HOSTILE = [*NUL, "\u001b[2J", "line\nbreak"]
PROBLEM = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
READINGS = ("post", "/api/v1/readings")  # a JSON array of anything: see ingest's readings tests

# Filters that take any text but a NUL, as rules/router.py does not type them
# `riskwatch.common.inputs.Key` yet; a NUL there is still a 422 (the database's data exception).
UNCHECKED = {("get", "/api/v1/rules", "scenario_id"), ("get", "/api/v1/rules", "metric")}
# Valid values of required query parameters, so that only the hostile one can fail a request.
QUERY = {
    "month": "2026-11",
    "sector_id": "construction",
    "level": "red",
    "metric": "ch4_lel",
    "from": "2026-11-01T00:00:00Z",
    "to": "2026-11-02T00:00:00Z",
}
# A valid body for each operation that takes JSON: the sweep puts a NUL in one string field at
# a time. (Only a NUL: free text such as a rule's description may hold a line break.)
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("put", "/api/v1/devices/{device_id}"): {
        "name": "Valve well",
        "scenario_id": "gas",
        "town_id": "lujiazui",
        "site": "Ring Rd",
        "address": "1 Lujiazui Ring Rd",
        "owner_unit": "street-lujiazui",
        "gateway_id": "dtu-1",
    },
    ("put", "/api/v1/device-profiles/{profile_id}"): {
        "name": "Methane well sensor",
        "metrics": [
            {
                "metric": "ch4_lel",
                "unit": "%LEL",
                "min": 0,
                "max": 100,
                "precision": 1,
                "interval_s": 60,
            },
        ],
    },
    ("put", "/api/v1/rules/{rule_id}"): {
        "name": "Gas leak",
        "description": "LEL above the limit",
        "scenario_id": "gas",
        "metric": "ch4_lel",
        "red": 50.0,
        "unit": "%LEL",
    },
    ("post", "/api/v1/workorders"): {
        "origin": "patrol",
        "scenario_id": "gas",
        "town_id": "lujiazui",
        "title": "Gas smell at Century Ave 88",
        "description": "near the kiosk",
    },
    ("post", "/api/v1/workorders/{work_order_id}/dispatch"): {
        "unit_id": "street-huamu",
        "assignee": "he.ping",
    },
    ("post", "/api/v1/workorders/{work_order_id}/accept"): {"note": "on my way"},
    ("post", "/api/v1/workorders/{work_order_id}/return"): {"reason": "not our street"},
    ("post", "/api/v1/workorders/{work_order_id}/transfer"): {
        "unit_id": "street-huamu",
        "assignee": "he.ping",
        "reason": "their street",
    },
    ("post", "/api/v1/workorders/{work_order_id}/arrive"): {
        "lon": 121.5,
        "lat": 31.23,
        "at": "2026-12-01T00:00:00Z",
    },
    ("post", "/api/v1/workorders/{work_order_id}/clear"): {"note": "valve closed"},
    ("post", "/api/v1/workorders/{work_order_id}/feedback"): {"fields": {"cause": "flange"}},
    ("post", "/api/v1/workorders/{work_order_id}/review"): {"note": "checked"},
    ("post", "/api/v1/workorders/{work_order_id}/close"): {"note": "leak fixed"},
    ("post", "/api/v1/workorders/{work_order_id}/false-alarm"): {"reason": "detector wet"},
    ("post", "/api/v1/workorders/{work_order_id}/reopen"): {"reason": "it leaks again"},
    ("post", "/api/v1/workorders/{work_order_id}/supervise"): {
        "note": "today please",
        "deadline": "2026-12-31T00:00:00Z",
    },
    ("post", "/api/v1/workorders/{work_order_id}/escalate-tier"): {"reason": "two departments"},
    ("post", "/api/v1/command-manual/versions"): {
        "note": "district manual",
        "entries": [
            {
                "scenario_id": "gas",
                "unit": "street-{town_id}",
                "disposal_standard": "cut the gas",
                "limits": {"accept": 5, "on_site": 20, "clear": 60, "feedback": 90, "close": 120},
            }
        ],
    },
    ("post", "/api/v1/command-manual/versions/{version}/approve"): {"note": "checked"},
    ("post", "/api/v1/overdue-bulletins"): {"week_of": "2026-11-20T00:00:00Z"},
    ("post", "/api/v1/accounts"): {
        "username": "huamu-handler-01",
        "display_name": "Huamu handler",
        "password": "Valve-Well-7731",
        "roles": ["handler"],
        "scope": "town:huamu",
        "phone": "13800000000",
    },
    ("patch", "/api/v1/accounts/{username}"): {"display_name": "Huamu handler", "phone": None},
    ("post", "/api/v1/accounts/{username}/password"): {"password": "Valve-Well-7731"},
    ("post", "/api/v1/auth/password"): {
        "username": "huamu-handler-01",
        "current_password": "Valve-Well-7731",
        "new_password": "Valve-Well-7732",
    },
    ("post", "/api/v1/auth/totp/confirm"): {"code": "492039"},
    ("post", "/api/v1/duty-centers"): {
        "duty_center_id": "street-huamu",
        "name": "Huamu duty center",
        "kind": "street",
        "town_id": "huamu",
        "robot_url": "wecom:https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
    },
    ("put", "/api/v1/duty-centers/{duty_center_id}"): {
        "name": "Huamu duty center",
        "robot_url": "dingtalk:https://oapi.dingtalk.com/robot/send?access_token=t",
    },
    ("put", "/api/v1/duty-centers/{duty_center_id}/members/{person_id}"): {
        "name": "Huamu handler",
        "phone": "+8610000000901",
        "email": "huamu.handler@example.org",
        "locale": "en",
    },
    ("post", "/api/v1/duty-centers/{duty_center_id}/rosters"): {
        "first_day": "2026-12-01",
        "days": 7,
        "templates": [{"name": "day", "start": "08:30", "end": "17:30"}],
        "rotation": ["huamu-handler-01"],
        "allow_gaps": True,
    },
    ("put", "/api/v1/rosters/{roster_id}"): {
        "first_day": "2026-12-01",
        "days": 7,
        "templates": [{"name": "day", "start": "08:30", "end": "17:30"}],
        "rotation": ["huamu-handler-01"],
        "allow_gaps": True,
    },
    ("post", "/api/v1/swaps"): {"shift_id": "x-1", "to_person_id": "huamu-handler-01"},
    ("post", "/api/v1/swaps/{swap_id}/decision"): {"approve": True},
    ("post", "/api/v1/duty/check-in"): {"duty_center_id": "street-huamu"},
    ("put", "/api/v1/routing"): {
        "rules": [{"name": "all", "targets": [{"kind": "street"}, {"kind": "sector"}]}]
    },
    ("post", "/api/v1/duty-centers/{duty_center_id}/handovers"): {"note": "quiet night"},
    ("post", "/api/v1/duty-centers/import"): {
        "id": "street-huamu",
        "name": "Huamu duty center",
        "kind": "street",
        "town_id": "huamu",
        "robot_url": "wecom:https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
        "members": [],
    },
    ("post", "/api/v1/sms/inbound"): {
        "message_id": "m-1",
        "from": "+8610000000901",
        "text": "报到",
    },
    ("post", "/api/v1/voice/callbacks"): {"call_id": "call-1", "status": "answered", "dtmf": "1"},
    ("put", "/api/v1/escalation-policies"): {
        "policies": {
            "red": {
                "steps": [
                    {"after_min": 0, "targets": [{"kind": "on_duty"}], "channels": ["in_app"]}
                ]
            }
        },
    },
    ("put", "/api/v1/templates/{key}/{channel}/{locale}"): {
        "body": "{level} {alarm_ref}",
        "provider_template_id": "SMS_1",
    },
    ("post", "/api/v1/templates/{key}/{channel}/{locale}/preview"): {
        "body": "{level} {alarm_ref}",
        "variables": {"level": "red"},
    },
}
# Operations whose body is a JSON array of objects: a valid item, swept the same way.
ARRAY_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/v1/devices/bulk"): {
        "device_id": "gas-bulk-1",
        "name": "Valve well",
        "scenario_id": "gas",
        "town_id": "lujiazui",
        "site": "Ring Rd",
        "address": "1 Lujiazui Ring Rd",
        "owner_unit": "street-lujiazui",
        "gateway_id": "dtu-1",
    },
    ("post", "/api/v1/sms/receipts"): {
        "biz_id": "biz-1",
        "out_id": "alarm-1:red:0.0:l1:sms",
        "phone_number": "13800000901",
        "success": True,
        "err_code": "DELIVERED",
    },
}


@pytest.fixture(scope="module")
def settings() -> EmbeddedSettings:
    data_dir = Path(tempfile.mkdtemp(prefix="rw-platform-api-"))
    return EmbeddedSettings(data_dir=data_dir, feed=False, admin_password="correct horse")


@pytest.fixture(scope="module")
def openapi(settings: EmbeddedSettings) -> dict[str, Any]:
    # The document needs no database: the app only connects when its lifespan starts.
    return create_platform(settings, "postgresql+asyncpg://unused@127.0.0.1:1/unused").openapi()


@pytest.fixture(scope="module")
async def platform_db(make_database: Callable[[str], str]) -> str:
    url = make_database("platform_api")
    await migrate(url, migration_dirs())
    return url


@pytest.fixture
async def client(settings: EmbeddedSettings, platform_db: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_platform(settings, platform_db)
    async with app_client(app) as c:
        # Every role: every route answers the probe itself, not a 403 in front of it.
        c.headers.update(await account_bearer(app, settings.auth, roles=tuple(ROLES)))
        yield c


def operations(openapi: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def test_every_error_of_every_route_is_documented_as_problem_json(
    openapi: dict[str, Any],
) -> None:
    for method, path, operation in operations(openapi):
        responses = operation["responses"]
        where = f"{method.upper()} {path}"
        for status, response in responses.items():
            if not status.startswith("2"):
                assert response.get("content") == PROBLEM, f"{where} {status}"
        assert "500" in responses, where
        if operation.get("security"):
            assert "401" in responses, where
        parameters = operation.get("parameters", [])
        if any(p["in"] == "path" for p in parameters):
            assert "404" in responses, where
        if parameters or "requestBody" in operation:
            assert "422" in responses, where
    assert "HTTPValidationError" not in openapi["components"]["schemas"]


@dataclass(frozen=True)
class Probe:
    """One request of an operation (`method` `path`) with `text` in its parameter or body
    field `field`."""

    method: str
    path: str
    field: str
    text: str
    url: str
    arguments: dict[str, Any]

    def expects_422(self) -> bool:
        return self.text in NUL or (self.method, self.path, self.field) not in UNCHECKED


def _requests(openapi: dict[str, Any]) -> Iterator[Probe]:
    """Each path and query parameter and each string field of a JSON body in turn holding
    hostile text, everything else valid."""
    for method, path, operation in operations(openapi):
        parameters = operation.get("parameters", [])
        in_path = [p["name"] for p in parameters if p["in"] == "path"]
        query = {
            p["name"]: QUERY[p["name"]]
            for p in parameters
            if p["in"] == "query" and p.get("required")
        }
        json_body = "application/json" in operation.get("requestBody", {}).get("content", {})
        known = (method, path) in BODIES or (method, path) in ARRAY_BODIES
        if json_body and not known and (method, path) != READINGS:
            pytest.fail(f"{method.upper()} {path} takes JSON: add a valid body to BODIES")
        body = BODIES.get((method, path))
        item = ARRAY_BODIES.get((method, path))
        base: dict[str, Any] = {"params": query} | ({} if body is None else {"json": body})
        if item is not None:
            base["json"] = [item]

        valid = _fill(path, in_path)
        for text in HOSTILE:
            for name in in_path:
                yield Probe(method, path, name, text, _fill(path, in_path, name, text), base)
            for p in parameters:
                if p["in"] == "query":
                    arguments = {**base, "params": {**query, p["name"]: text}}
                    yield Probe(method, path, p["name"], text, valid, arguments)
        for text in NUL:
            for field, value in (body or {}).items():
                if isinstance(value, str):
                    arguments = {**base, "json": {**(body or {}), field: text}}
                    yield Probe(method, path, field, text, valid, arguments)
            for field, value in (item or {}).items():
                if isinstance(value, str):
                    arguments = {**base, "json": [{**(item or {}), field: text}]}
                    yield Probe(method, path, field, text, valid, arguments)


def _fill(path: str, names: list[str], hostile_name: str = "", hostile: str = "") -> str:
    for name in names:
        value = hostile if name == hostile_name else "x-1"
        path = path.replace("{" + name + "}", quote(value, safe=""))
    return path


async def test_hostile_text_anywhere_is_a_422_problem(
    client: httpx.AsyncClient, openapi: dict[str, Any]
) -> None:
    probes = list(_requests(openapi))
    assert len(probes) > 100  # every service's ids, filters and texts
    for probe in probes:
        response = await client.request(probe.method, probe.url, **probe.arguments)
        where = f"{probe.method.upper()} {probe.url} ({probe.field}={probe.text!r})"
        if probe.expects_422():
            assert response.status_code == 422, f"{where}: {response.status_code} {response.text}"
            assert response.headers["content-type"] == PROBLEM_JSON, where
        else:
            assert response.status_code < 500, f"{where}: {response.status_code}"
