"""SMS adapters for real: the file provider on disk, and the template platform adapter against
the provider double served by uvicorn on 127.0.0.1 (no mock transport), plus a gateway that
answers oddly."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import SecretStr

from riskwatch.notify.notifications.channels import Outgoing, SmsChannel
from riskwatch.notify.notifications.domain import ChannelKind
from riskwatch.notify.notifications.sms import FileSmsProvider, HttpSmsProvider, SendError
from riskwatch.notify.testing.providers import ProviderDouble, serve_app, serving

TOKEN = "s3cret-token"
NO_ID = "SMS provider answered without a message id"
NOT_AN_ID = "SMS provider answered a message id that is not a short printable id"


@pytest.fixture(scope="module")
def served() -> Iterator[ProviderDouble]:
    with serving(token=TOKEN) as double:
        yield double


@pytest.fixture
def double(served: ProviderDouble) -> ProviderDouble:
    served.reset()
    return served


def provider(double: ProviderDouble) -> HttpSmsProvider:
    return HttpSmsProvider(
        double.sms_url,
        token=SecretStr(TOKEN),
        sign_name="风险监测",
        generic_template="SMS_GENERIC",
        timeout_s=5,
    )


async def test_a_text_goes_through_the_generic_template_with_the_key_as_out_id(
    double: ProviderDouble,
) -> None:
    sms = provider(double)
    try:
        biz_id = await sms.send(
            to="13800000301", text="[RiskWatch] RED alarm 陆家嘴", idempotency_key="a:red:0.0:p:sms"
        )
    finally:
        await sms.aclose()
    [sent] = double.sms
    assert sent.biz_id == biz_id
    assert (sent.phone_numbers, sent.sign_name, sent.template_code, sent.out_id) == (
        "13800000301",
        "风险监测",
        "SMS_GENERIC",
        "a:red:0.0:p:sms",
    )
    assert sent.template_param == {"content": "[RiskWatch] RED alarm 陆家嘴"}


async def test_a_template_notification_sends_its_code_and_parameters(
    double: ProviderDouble,
) -> None:
    sms = provider(double)
    try:
        await sms.send(
            to="13800000302",
            text="the rendered text, not sent",
            idempotency_key="k-template",
            template_id="SMS_ALARM_RED",
            params={"level": "红色", "place": "陆家嘴"},
        )
    finally:
        await sms.aclose()
    [sent] = double.sms
    assert (sent.template_code, sent.template_param) == (
        "SMS_ALARM_RED",
        {"level": "红色", "place": "陆家嘴"},
    )


async def test_a_resend_with_the_same_key_is_deduplicated_by_the_platform(
    double: ProviderDouble,
) -> None:
    sms = provider(double)
    try:
        first = await sms.send(to="13800000303", text="t", idempotency_key="k-once")
        again = await sms.send(to="13800000303", text="t", idempotency_key="k-once")
    finally:
        await sms.aclose()
    assert first == again
    assert len(double.sms) == 1
    assert len([r for r in double.requests if r.kind == "sms"]) == 2


async def test_an_sms_channel_over_http_is_sent_not_yet_delivered(double: ProviderDouble) -> None:
    channel = SmsChannel(provider(double))
    outgoing = Outgoing("n-1", "k-1", ChannelKind.SMS, "13800000304", "text", attempt=1)
    try:
        receipt = await channel.send(outgoing)
    finally:
        await channel.aclose()
    assert channel.provider == "sms-http"
    assert (receipt.delivered, receipt.provider_message_id) == (False, double.sms[0].biz_id)


@pytest.mark.parametrize(
    ("arrange", "message", "retryable"),
    [
        (lambda d: d.fail_next(1, kind="sms"), "SMS provider answered HTTP 500", True),
        (lambda d: d.down(), "SMS provider answered HTTP 503", True),
        (
            lambda d: d.refuse_next(1, kind="sms", code="isv.BUSINESS_LIMIT_CONTROL"),
            "SMS provider refused the message (isv.BUSINESS_LIMIT_CONTROL)",
            True,
        ),
        (
            lambda d: d.refuse_next(1, kind="sms", code="isp.SYSTEM_ERROR"),
            "SMS provider refused the message (isp.SYSTEM_ERROR)",
            True,
        ),
        (
            lambda d: d.refuse_next(1, kind="sms", code="isv.MOBILE_NUMBER_ILLEGAL"),
            "SMS provider refused the message (isv.MOBILE_NUMBER_ILLEGAL)",
            False,
        ),
        (
            lambda d: d.refuse_next(1, kind="sms", code="isv.SMS_TEMPLATE_ILLEGAL"),
            "SMS provider refused the message (isv.SMS_TEMPLATE_ILLEGAL)",
            False,
        ),
    ],
)
async def test_the_platforms_failures_are_send_errors_retryable_or_not(
    double: ProviderDouble,
    arrange: Callable[[ProviderDouble], None],
    message: str,
    retryable: bool,
) -> None:
    arrange(double)
    sms = provider(double)
    try:
        with pytest.raises(SendError) as caught:
            await sms.send(to="13800000305", text="t", idempotency_key="k-fails")
    finally:
        await sms.aclose()
    assert str(caught.value) == message
    assert caught.value.retryable is retryable
    assert double.sms == []  # nothing went out


async def test_a_wrong_token_is_refused_and_not_retried(double: ProviderDouble) -> None:
    sms = HttpSmsProvider(double.sms_url, token=SecretStr("wrong"), timeout_s=5)
    try:
        with pytest.raises(SendError, match="HTTP 401") as caught:
            await sms.send(to="13800000306", text="t", idempotency_key="k-token")
    finally:
        await sms.aclose()
    assert not caught.value.retryable


def odd_gateway() -> FastAPI:
    """A gateway whose answers are not what the platform API promises."""
    app = FastAPI()
    answers: dict[str, Callable[[], Response]] = {
        "no-code": lambda: JSONResponse({"BizId": "b-1"}),
        "code-is-a-page": lambda: JSONResponse({"Code": "<html>internal 7731</html>"}),
        "no-biz-id": lambda: JSONResponse({"Code": "OK"}),
        "bool-biz-id": lambda: JSONResponse({"Code": "OK", "BizId": True}),
        "long-biz-id": lambda: JSONResponse({"Code": "OK", "BizId": "x" * 300}),
        "control-biz-id": lambda: JSONResponse({"Code": "OK", "BizId": "b-1\n\x1b[31mforged"}),
        "html": lambda: PlainTextResponse("<html>ok</html>", media_type="text/html"),
        "a-list": lambda: JSONResponse([{"Code": "OK", "BizId": "b-1"}]),
    }

    @app.post("/{kind}")
    async def answer(kind: str) -> Response:
        return answers[kind]()

    return app


@pytest.fixture(scope="module")
def odd() -> Iterator[str]:
    with serve_app(odd_gateway()) as url:
        yield url


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("no-code", "SMS provider answered without a Code"),
        ("code-is-a-page", "SMS provider answered without a Code"),
        ("no-biz-id", NO_ID),
        ("bool-biz-id", NO_ID),
        ("long-biz-id", NOT_AN_ID),
        ("control-biz-id", NOT_AN_ID),
        ("html", "SMS provider answered something that is not JSON"),
        ("a-list", "SMS provider answered something that is not a JSON object"),
    ],
)
async def test_an_odd_answer_is_a_retryable_send_error_in_our_words(
    odd: str, kind: str, message: str
) -> None:
    sms = HttpSmsProvider(f"{odd}/{kind}", timeout_s=5)
    try:
        with pytest.raises(SendError) as caught:
            await sms.send(to="13800000307", text="t", idempotency_key="k")
    finally:
        await sms.aclose()
    assert str(caught.value) == message  # our words, never the provider's body
    assert caught.value.retryable


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_an_unreachable_platform_is_a_retryable_send_error() -> None:
    sms = HttpSmsProvider(f"http://127.0.0.1:{free_port()}/sms/send", timeout_s=2)
    try:
        with pytest.raises(SendError, match="unreachable") as caught:
            await sms.send(to="13800000308", text="t", idempotency_key="k")
    finally:
        await sms.aclose()
    assert caught.value.retryable


async def test_the_file_provider_writes_each_key_once_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "sms-outbox.jsonl"
    sms = FileSmsProvider(path)
    first = await sms.send(to="+8610000000305", text="陆家嘴 alarm", idempotency_key="k1")
    again = await sms.send(to="+8610000000305", text="陆家嘴 alarm", idempotency_key="k1")
    other = await sms.send(
        to="+8610000000306",
        text="other",
        idempotency_key="k2",
        template_id="SMS_ALARM",
        params={"level": "red"},
    )
    assert first == again != other
    # A crash mid-write leaves half a line; the next process skips it and keeps going.
    with path.open("a", encoding="utf-8") as f:
        f.write('{"message_id": "file-cut", "idempotency_ke')
    restarted = FileSmsProvider(path)
    assert await restarted.send(to="+8610000000305", text="x", idempotency_key="k1") == first
    assert await restarted.send(to="+8610000000307", text="y", idempotency_key="k3")
    lines = path.read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines if line.endswith("}")]
    assert [e["idempotency_key"] for e in entries] == ["k1", "k2", "k3"]
    assert entries[0] == entries[0] | {"to": "+8610000000305", "text": "陆家嘴 alarm"}
    assert entries[1] == entries[1] | {"template_id": "SMS_ALARM", "params": {"level": "red"}}
