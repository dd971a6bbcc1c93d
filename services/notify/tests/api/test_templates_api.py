"""The templates API over the notify app in-process (real PostgreSQL, in-process bus): list
every key, channel and locale; edit a text (district-wide managers only, audited), refused with
the unknown variables listed; preview a draft with sample values; reset to the default."""

# ruff: noqa: RUF001  (the expected Chinese texts use full-width punctuation)

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from riskwatch.common.bus import MemoryBus
from riskwatch.common.events import decode
from riskwatch.common.events.audit import AuditRecorded
from riskwatch.common.events.topics import AUDIT
from riskwatch.common.settings import DatabaseSettings
from riskwatch.common.testing import account_bearer, app_client, eventually, migrate
from riskwatch.notify.app import create_app
from riskwatch.notify.module import MIGRATIONS
from riskwatch.notify.settings import NotifySettings
from riskwatch.notify.templates.domain import TemplateKey

BASE = "/api/v1/templates"
SMS_ZH = f"{BASE}/alarm/sms/zh-CN"


class Api:
    def __init__(self, client: httpx.AsyncClient, headers: dict[str, dict[str, str]]) -> None:
        self.client = client
        self.headers = headers

    async def call(
        self, who: str, method: str, path: str, *, expect: int = 200, **kwargs: Any
    ) -> Any:
        response = await self.client.request(method, path, headers=self.headers[who], **kwargs)
        assert response.status_code == expect, (path, response.text)
        return response.json()


@pytest.fixture
async def bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture
async def api(make_database: Callable[[str], str], bus: MemoryBus) -> AsyncIterator[Api]:
    url = make_database(f"notify_templates_{uuid.uuid4().hex[:8]}")
    await migrate(url, [MIGRATIONS])
    settings = NotifySettings(
        bus="memory", database=DatabaseSettings(url=url), outbox_poll_interval_s=0.05
    )
    app = create_app(settings, bus=bus)
    async with app_client(app) as client:
        headers = {
            "admin": await account_bearer(
                app, settings.auth, "duty.admin", roles=("business_admin",)
            ),
            # Manages duty, but for one sector only.
            "head": await account_bearer(
                app,
                settings.auth,
                "construction.head",
                roles=("department_head",),
                scope="sector:construction",
            ),
            "handler": await account_bearer(
                app, settings.auth, "zhang.san", roles=("handler",), scope="town:lujiazui"
            ),
            "auditor": await account_bearer(app, settings.auth, "auditor", roles=("audit_admin",)),
        }
        yield Api(client, headers)


async def test_every_key_channel_and_locale_is_listed_with_its_variables(api: Api) -> None:
    listed = await api.call("handler", "GET", BASE)
    items = listed["items"]
    assert len(items) == len(TemplateKey) * 5 * 2
    assert {(i["key"], i["channel"], i["locale"]) for i in items} >= {
        ("alarm", "voice", "zh-CN"),
        ("digest", "email", "en"),
        ("check_in", "webhook", "zh-CN"),
    }
    assert not any(i["customised"] for i in items)
    sms = next(
        i for i in items if (i["key"], i["channel"], i["locale"]) == ("alarm", "sms", "zh-CN")
    )
    variables = {v["name"]: v for v in sms["variables"]}
    assert variables["ack_hint"]["sample"] == "回复QS 1a2b3c4d签收"
    assert variables["level"]["sample"] == "红色"
    assert "{level}" in sms["body"]
    # Someone without the permission to read notifications reads no templates.
    await api.call("auditor", "GET", BASE, expect=403)


async def test_a_district_manager_edits_previews_and_resets_a_text(
    api: Api, bus: MemoryBus
) -> None:
    default = await api.call("handler", "GET", SMS_ZH)

    # Unknown variables and format-string tricks are refused, the unknown ones listed.
    refused = await api.call(
        "admin",
        "PUT",
        SMS_ZH,
        expect=422,
        json={"body": "{level}预警 {colour} {where} {level.__class__}"},
    )
    assert refused["unknown_variables"] == ["colour", "where"]
    assert any("attribute" in e for e in refused["errors"])
    assert "colour, where" in refused["detail"]
    await api.call("admin", "PUT", SMS_ZH, expect=422, json={"body": "{level"})
    # Only e-mails have a subject.
    await api.call(
        "admin", "PUT", SMS_ZH, expect=422, json={"body": "{level}", "subject": "{level}"}
    )

    # A sector's department head manages duty, but not the district's texts; a handler not at
    # all.
    body = {
        "body": "【RiskWatch】{level}预警 {place} 告警{alarm_ref}，{ack_hint}",
        "provider_template_id": "SMS_1",
    }
    await api.call("head", "PUT", SMS_ZH, expect=403, json=body)
    await api.call("handler", "PUT", SMS_ZH, expect=403, json=body)
    await api.call("head", "DELETE", SMS_ZH, expect=403)

    edited = await api.call("admin", "PUT", SMS_ZH, json=body)
    assert (edited["customised"], edited["updated_by"], edited["provider_template_id"]) == (
        True,
        "duty.admin",
        "SMS_1",
    )
    assert (await api.call("handler", "GET", SMS_ZH))["body"] == body["body"]
    listed = await api.call("handler", "GET", BASE)
    assert [(i["key"], i["channel"], i["locale"]) for i in listed["items"] if i["customised"]] == [
        ("alarm", "sms", "zh-CN")
    ]

    # The text in force, previewed with the samples; a draft with some values of one's own.
    current = await api.call("handler", "POST", f"{SMS_ZH}/preview", json={})
    assert current["text"] == "【RiskWatch】红色预警 陆家嘴街道 告警1a2b3c4d，回复QS 1a2b3c4d签收"
    assert current["segments"] == 1
    assert current["provider_template_id"] == "SMS_1"
    assert list(current["params"]) == ["level", "place", "alarm_ref", "ack_hint"]
    draft = await api.call(
        "handler",
        "POST",
        f"{SMS_ZH}/preview",
        json={"body": "{level}预警 {place}" + "。" * 80, "variables": {"place": "花木街道"}},
    )
    assert draft["text"].startswith("红色预警 花木街道。")
    assert draft["segments"] == 2
    assert draft["variables"]["place"] == "花木街道"
    unknown = await api.call(
        "handler", "POST", f"{SMS_ZH}/preview", expect=422, json={"variables": {"colour": "x"}}
    )
    assert unknown["unknown_variables"] == ["colour"]
    voice = await api.call("handler", "POST", f"{BASE}/alarm/voice/en/preview", json={})
    assert voice["segments"] is None
    assert voice["text"].endswith("press 1 to acknowledge")
    mail = await api.call("handler", "POST", f"{BASE}/digest/email/zh-CN/preview", json={})
    assert mail["subject"] == "【RiskWatch】03:00-03:10另有190条通知未逐条发送"

    reset = await api.call("admin", "DELETE", SMS_ZH)
    assert reset == default
    assert not (await api.call("handler", "GET", SMS_ZH))["customised"]

    # The edit and the reset are in the audit trail; refused and previewed are not writes.
    async def recorded() -> list[AuditRecorded]:
        found = [
            data
            for m in bus.records(AUDIT)
            if isinstance(data := decode(m.headers, m.value).data, AuditRecorded)
            and data.action in ("put_template", "delete_template")
            and data.outcome == "success"
        ]
        return found if len(found) == 2 else []

    put, deleted = await eventually(recorded)
    assert (put.actor, put.resource) == ("duty.admin", "templates/alarm/sms/zh-CN")
    assert put.before_digest != put.after_digest
    assert deleted.after_digest == put.before_digest  # back to the default


async def test_unknown_keys_channels_and_locales_are_422(api: Api) -> None:
    await api.call("handler", "GET", f"{BASE}/nope/sms/zh-CN", expect=422)
    await api.call("handler", "GET", f"{BASE}/alarm/fax/zh-CN", expect=422)
    await api.call("handler", "GET", f"{BASE}/alarm/sms/fr", expect=422)
