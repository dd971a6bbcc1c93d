"""The provider double itself, served for real: what other tests rely on. It posts receipts and
call reports by itself when asked (to a receiver served on 127.0.0.1), a slow answer makes the
adapter time out after the message went (and a resend sends nothing twice), and `reset` forgets
everything."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI, Request
from pydantic import SecretStr

from riskwatch.common.testing import eventually
from riskwatch.notify.notifications.providers.base import SendError
from riskwatch.notify.notifications.providers.voice import HttpVoiceProvider
from riskwatch.notify.notifications.sms import HttpSmsProvider
from riskwatch.notify.testing.providers import ProviderDouble, serve_app, serving


@dataclass
class Receiver:
    url: str
    posts: list[tuple[str, str | None, Any]] = field(default_factory=list)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    posts: list[tuple[str, str | None, Any]] = []
    app = FastAPI()

    @app.post("/{path:path}")
    async def take(path: str, request: Request) -> dict[str, int]:
        posts.append(("/" + path, request.headers.get("authorization"), await request.json()))
        return {"code": 0}

    with serve_app(app) as url:
        yield Receiver(url, posts)


@pytest.fixture(scope="module")
def double(receiver: Receiver) -> Iterator[ProviderDouble]:
    with serving(callback_url=receiver.url) as served:
        yield served


async def test_receipts_and_call_reports_are_posted_by_themselves_when_asked(
    double: ProviderDouble, receiver: Receiver
) -> None:
    double.reset()
    receiver.posts.clear()
    double.callback_headers = {"Authorization": "Bearer gateway-token"}
    double.auto_sms_receipt = "undelivered"
    double.auto_voice_callback = ("answered", "1")
    sms = HttpSmsProvider(double.sms_url, timeout_s=5)
    voice = HttpVoiceProvider(double.voice_url, timeout_s=5)
    try:
        biz_id = await sms.send(to="13800000501", text="t", idempotency_key="k-sms")
        await sms.send(to="13800000501", text="t", idempotency_key="k-sms")  # deduplicated
        call_id = await voice.send(to="13800000501", text="t", idempotency_key="k-call")
    finally:
        await sms.aclose()
        await voice.aclose()

    async def both() -> bool:
        return len(receiver.posts) >= 2

    await eventually(both)
    by_path = {path: (auth, body) for path, auth, body in receiver.posts}
    assert len(receiver.posts) == 2  # one receipt, though the SMS was asked for twice
    auth, receipts = by_path["/api/v1/sms/receipts"]
    assert auth == "Bearer gateway-token"
    [receipt] = receipts
    assert (receipt["biz_id"], receipt["out_id"], receipt["success"]) == (biz_id, "k-sms", False)
    _, report = by_path["/api/v1/voice/callbacks"]
    assert (report["call_id"], report["out_id"], report["status"], report["dtmf"]) == (
        call_id,
        "k-call",
        "answered",
        "1",
    )


async def test_receipts_can_be_posted_again_and_again(
    double: ProviderDouble, receiver: Receiver
) -> None:
    double.reset()
    receiver.posts.clear()
    sms = HttpSmsProvider(double.sms_url, timeout_s=5)
    try:
        await sms.send(to="13800000502", text="t", idempotency_key="k-1")
        await sms.send(to="13800000503", text="t", idempotency_key="k-2")
    finally:
        await sms.aclose()
    answers = await double.post_sms_receipts(out_ids=["k-2"], times=3)
    assert [a.status_code for a in answers] == [200] * 3
    assert [[r["out_id"] for r in body] for _, _, body in receiver.posts] == [["k-2"]] * 3


async def test_a_slow_answer_times_out_after_the_sms_went_and_a_resend_sends_nothing(
    double: ProviderDouble,
) -> None:
    double.reset()
    double.delay(2.0)
    sms = HttpSmsProvider(double.sms_url, timeout_s=0.2)
    try:
        with pytest.raises(SendError, match="unreachable") as caught:
            await sms.send(to="13800000504", text="t", idempotency_key="k-slow")
        assert caught.value.retryable
        double.delay(0)
        biz_id = await sms.send(to="13800000504", text="t", idempotency_key="k-slow")
    finally:
        await sms.aclose()
    [sent] = double.sms
    assert sent.biz_id == biz_id


async def test_reset_forgets_faults_records_and_settings(double: ProviderDouble) -> None:
    double.fail_next(3)
    double.down()
    double.auto_sms_receipt = "delivered"
    double.reset()
    sms = HttpSmsProvider(double.sms_url, token=SecretStr("any"), timeout_s=5)
    try:
        await sms.send(to="13800000505", text="t", idempotency_key="k-after-reset")
    finally:
        await sms.aclose()
    assert [s.out_id for s in double.sms] == ["k-after-reset"]
    assert double.auto_sms_receipt is None
