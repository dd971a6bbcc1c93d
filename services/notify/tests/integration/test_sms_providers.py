"""SMS adapters for real: the file provider on disk, and the HTTP provider against a small
gateway served by uvicorn on 127.0.0.1 in a thread (no mock transport)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr

from riskwatch.notify.notifications.channels import Outgoing, SmsChannel
from riskwatch.notify.notifications.domain import ChannelKind
from riskwatch.notify.notifications.sms import FileSmsProvider, HttpSmsProvider, SendError

NOT_AN_ID = "SMS provider answered a message_id that is not a short printable id"


@dataclass
class Gateway:
    url: str
    received: list[dict[str, object]] = field(default_factory=list)


def gateway_app(received: list[dict[str, object]]) -> FastAPI:
    app = FastAPI()

    @app.post("/sms")
    async def sms(request: Request) -> JSONResponse:
        received.append({"headers": dict(request.headers), "body": await request.json()})
        return JSONResponse({"message_id": f"gw-{request.headers['idempotency-key']}"})

    @app.post("/broken")
    async def broken() -> JSONResponse:
        return JSONResponse({"error": "internal details a client must never see"}, status_code=500)

    @app.post("/rejects")
    async def rejects() -> JSONResponse:
        return JSONResponse({"error": "bad number"}, status_code=400)

    @app.post("/no-id")
    async def no_id() -> JSONResponse:
        return JSONResponse({"ok": True})

    @app.post("/bool-id")
    async def bool_id() -> JSONResponse:
        return JSONResponse({"message_id": True})

    @app.post("/long-id")
    async def long_id() -> JSONResponse:
        return JSONResponse({"message_id": "x" * 300})

    @app.post("/control-id")
    async def control_id() -> JSONResponse:
        return JSONResponse({"message_id": "gw-1\n\x1b[31mforged"})

    return app


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    received: list[dict[str, object]] = []
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(gateway_app(received), log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test SMS gateway did not start")
        time.sleep(0.01)
    yield Gateway(f"http://127.0.0.1:{port}", received)
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_the_http_provider_posts_with_key_and_token(gateway: Gateway) -> None:
    provider = HttpSmsProvider(f"{gateway.url}/sms", token=SecretStr("s3cret-token"))
    try:
        message_id = await provider.send(
            to="+8610000000301", text="[RiskWatch] RED alarm 陆家嘴", idempotency_key="a:red:p:sms"
        )
    finally:
        await provider.aclose()
    assert message_id == "gw-a:red:p:sms"
    request = gateway.received[-1]
    headers = request["headers"]
    assert isinstance(headers, dict)
    assert headers["idempotency-key"] == "a:red:p:sms"
    assert headers["authorization"] == "Bearer s3cret-token"
    assert request["body"] == {"to": "+8610000000301", "text": "[RiskWatch] RED alarm 陆家嘴"}


async def test_an_sms_channel_over_http_is_sent_not_yet_delivered(gateway: Gateway) -> None:
    channel = SmsChannel(HttpSmsProvider(f"{gateway.url}/sms"))
    outgoing = Outgoing("n-1", "k-1", ChannelKind.SMS, "+8610000000302", "text", attempt=1)
    try:
        receipt = await channel.send(outgoing)
    finally:
        await channel.aclose()
    assert (receipt.delivered, receipt.provider_message_id) == (False, "gw-k-1")
    headers = gateway.received[-1]["headers"]
    assert isinstance(headers, dict)
    assert "authorization" not in headers  # no token configured, none sent


@pytest.mark.parametrize(
    ("path", "message", "retryable"),
    [
        ("/broken", "SMS provider answered HTTP 500", True),
        ("/rejects", "SMS provider answered HTTP 400", False),
        ("/no-id", "SMS provider answered without a message_id", True),
        ("/bool-id", "SMS provider answered without a message_id", True),
        ("/long-id", NOT_AN_ID, True),
        ("/control-id", NOT_AN_ID, True),
    ],
)
async def test_the_http_provider_turns_bad_answers_into_send_errors(
    gateway: Gateway, path: str, message: str, retryable: bool
) -> None:
    provider = HttpSmsProvider(f"{gateway.url}{path}")
    try:
        with pytest.raises(SendError) as caught:
            await provider.send(to="+8610000000303", text="t", idempotency_key="k")
    finally:
        await provider.aclose()
    assert str(caught.value) == message  # our words, never the provider's body
    assert caught.value.retryable is retryable


async def test_an_unreachable_gateway_is_a_retryable_send_error() -> None:
    provider = HttpSmsProvider(f"http://127.0.0.1:{free_port()}/sms", timeout_s=2)
    try:
        with pytest.raises(SendError, match="unreachable") as caught:
            await provider.send(to="+8610000000304", text="t", idempotency_key="k")
    finally:
        await provider.aclose()
    assert caught.value.retryable


async def test_the_file_provider_writes_each_key_once_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "sms-outbox.jsonl"
    provider = FileSmsProvider(path)
    first = await provider.send(to="+8610000000305", text="陆家嘴 alarm", idempotency_key="k1")
    again = await provider.send(to="+8610000000305", text="陆家嘴 alarm", idempotency_key="k1")
    other = await provider.send(to="+8610000000306", text="other", idempotency_key="k2")
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
