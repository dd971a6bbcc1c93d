"""A double of the providers notify sends through, for tests: one FastAPI app serving a template
SMS platform, a voice gateway and WeCom / DingTalk group robots, which can fail, delay, refuse
and post delivery receipts and call reports back, repeated if asked. Like a real platform it
sends one message per out id (the idempotency key): a resend answers the first message's id
and sends nothing.

    with serving() as double:                       # uvicorn on 127.0.0.1, a free port
        settings = NotifySettings(
            sms_provider="http", sms_http_url=double.sms_url,
            voice_provider="http", voice_http_url=double.voice_url,
            robot_allowed_hosts=["127.0.0.1"],
        )
        double.robot_url("wecom", "k1")              # "wecom:http://127.0.0.1:<port>/robot/..."

Endpoints (what the adapters post):
    POST /sms/send        {phone_numbers, sign_name, template_code, template_param, out_id}
                          -> {"Code": "OK", "BizId", "RequestId"}
    POST /voice/call      {called_number, tts_text | tts_code + tts_param, out_id, play_times}
                          -> {"Code": "OK", "CallId", "RequestId"}
    POST /robot/wecom/send?key=K, POST /robot/dingtalk/send?access_token=T
                          {"msgtype": "text", "text": {"content"}} -> {"errcode": 0}

Controls (thread-safe; `kind` is "sms", "voice", "wecom", "dingtalk" or None for any):
    fail_next(n, kind=None, status=500)  the next n requests are answered `status`, unsent
    accept_then_fail(n=1, kind=None)     the next n are sent (recorded), then answered 500
    refuse_next(n, kind, code)           answered 200 with an error: SMS / voice {"Code": code},
                                         robots {"errcode": int(code)}; unsent
    delay(seconds)                       every answer waits this long (0: none)
    down() / up()                        refuse everything with 503 / serve again
    reset()                              forget faults, delay, down and all records
    auto_sms_receipt = "delivered" | "undelivered" | None
    auto_voice_callback = ("answered", "1") | (status, dtmf) | None
                                         after sending, post the receipt / call report to
                                         `callback_url` (with `callback_headers`) by itself

Records: `sms` (SentSms, one per out id; `sms_to(phone)`), `calls` (PlacedCall, one per out
id), `robot_posts` (RobotPost, every post: robots do not deduplicate), `requests` (Seen: every
request, its out id and its answer's status and body).

Callbacks posted on demand (awaited in the test's loop; repeat with `times`):
    await double.post_sms_receipts(out_ids=None, success=True, err_code=None, times=1,
                                   client=None)   # None: every SMS sent
    await double.post_voice_callback(out_id, status="answered", dtmf="1", times=1, client=None)
  to `callback_url` + /api/v1/sms/receipts or /api/v1/voice/callbacks with `callback_headers`
  (e.g. a gateway account's bearer token), or through `client` (an httpx.AsyncClient with a
  base_url, e.g. on the app's ASGITransport). The bodies alone: `sms_receipt(sent, success=,
  err_code=)` (Aliyun's SmsReport fields) and `voice_report(call, status=, dtmf=)`.

`serve_app(app)` serves any ASGI app the same way (a context manager yielding its base URL).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

Kind = Literal["sms", "voice", "wecom", "dingtalk"]
SMS_RECEIPTS = "/api/v1/sms/receipts"
VOICE_CALLBACKS = "/api/v1/voice/callbacks"


@dataclass(frozen=True, slots=True)
class SentSms:
    biz_id: str
    out_id: str
    phone_numbers: str
    sign_name: str
    template_code: str
    template_param: dict[str, Any]
    at: datetime


@dataclass(frozen=True, slots=True)
class PlacedCall:
    call_id: str
    out_id: str
    called_number: str
    tts_text: str | None
    tts_code: str | None
    tts_param: dict[str, Any] | None
    play_times: int | None
    at: datetime


@dataclass(frozen=True, slots=True)
class RobotPost:
    kind: Kind
    key: str | None
    content: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Seen:
    """One request the double answered: its kind, its out id if any, and the answer's status
    and body."""

    kind: Kind
    out_id: str | None
    status: int
    answer: dict[str, Any]


@dataclass(slots=True)
class _Fault:
    kind: Kind | None
    action: Literal["fail", "accept_then_fail", "refuse"]
    status: int = 500
    code: str = ""


@dataclass
class ProviderDouble:
    """The providers' state and controls; `app` serves them. `token`, when set, is the bearer
    token every SMS and voice request must carry (else 401)."""

    token: str | None = None
    callback_url: str | None = None
    callback_headers: dict[str, str] = field(default_factory=dict)
    auto_sms_receipt: Literal["delivered", "undelivered"] | None = None
    auto_voice_callback: tuple[str, str | None] | None = None
    url: str = ""  # set when served
    sms: list[SentSms] = field(default_factory=list)
    calls: list[PlacedCall] = field(default_factory=list)
    robot_posts: list[RobotPost] = field(default_factory=list)
    requests: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._delay_s = 0.0
        self._down = False
        self._ids = itertools.count(1)
        self._background: set[asyncio.Task[None]] = set()
        self.app = self._build()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def sms_url(self) -> str:
        return f"{self.url}/sms/send"

    @property
    def voice_url(self) -> str:
        return f"{self.url}/voice/call"

    def robot_url(self, kind: Literal["wecom", "dingtalk"], key: str = "robot-key") -> str:
        """A duty center's `robot_url` for this double: "wecom:<url>" or "dingtalk:<url>"."""
        if kind == "wecom":
            return f"wecom:{self.url}/robot/wecom/send?key={key}"
        return f"dingtalk:{self.url}/robot/dingtalk/send?access_token={key}"

    # -- controls ----------------------------------------------------------------------------

    def fail_next(self, n: int, *, kind: Kind | None = None, status: int = 500) -> None:
        with self._lock:
            self._faults += [_Fault(kind, "fail", status=status) for _ in range(n)]

    def accept_then_fail(self, n: int = 1, *, kind: Kind | None = None) -> None:
        with self._lock:
            self._faults += [_Fault(kind, "accept_then_fail") for _ in range(n)]

    def refuse_next(self, n: int, *, kind: Kind, code: str) -> None:
        with self._lock:
            self._faults += [_Fault(kind, "refuse", code=code) for _ in range(n)]

    def delay(self, seconds: float) -> None:
        with self._lock:
            self._delay_s = seconds

    def down(self) -> None:
        with self._lock:
            self._down = True

    def up(self) -> None:
        with self._lock:
            self._down = False

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self._delay_s = 0.0
            self._down = False
            self.sms.clear()
            self.calls.clear()
            self.robot_posts.clear()
            self.requests.clear()
            self.auto_sms_receipt = None
            self.auto_voice_callback = None

    def sms_to(self, phone: str) -> list[SentSms]:
        with self._lock:
            return [s for s in self.sms if s.phone_numbers == phone]

    # -- callbacks ---------------------------------------------------------------------------

    def sms_receipt(
        self, sent: SentSms, *, success: bool = True, err_code: str | None = None
    ) -> dict[str, Any]:
        """A delivery receipt of `sent`, shaped like Aliyun's SmsReport."""
        now = datetime.now(UTC).isoformat()
        return {
            "phone_number": sent.phone_numbers,
            "send_time": sent.at.isoformat(),
            "report_time": now,
            "success": success,
            "err_code": err_code or ("DELIVERED" if success else "MK:0001"),
            "err_msg": "用户接收成功" if success else "用户接收失败",
            "sms_size": "1",
            "biz_id": sent.biz_id,
            "out_id": sent.out_id,
        }

    def voice_report(
        self, call: PlacedCall, *, status: str = "answered", dtmf: str | None = "1"
    ) -> dict[str, Any]:
        return {
            "call_id": call.call_id,
            "out_id": call.out_id,
            "status": status,
            "dtmf": dtmf,
            "end_time": datetime.now(UTC).isoformat(),
        }

    async def post_sms_receipts(
        self,
        *,
        out_ids: list[str] | None = None,
        success: bool = True,
        err_code: str | None = None,
        times: int = 1,
        client: httpx.AsyncClient | None = None,
    ) -> list[httpx.Response]:
        """Post one batch of receipts (for `out_ids`, or every SMS sent) `times` times."""
        with self._lock:
            chosen = [s for s in self.sms if out_ids is None or s.out_id in out_ids]
        batch = [self.sms_receipt(s, success=success, err_code=err_code) for s in chosen]
        return [await self._post(SMS_RECEIPTS, batch, client) for _ in range(times)]

    async def post_voice_callback(
        self,
        out_id: str,
        *,
        status: str = "answered",
        dtmf: str | None = "1",
        times: int = 1,
        client: httpx.AsyncClient | None = None,
    ) -> list[httpx.Response]:
        with self._lock:
            call = next((c for c in self.calls if c.out_id == out_id), None)
        if call is None:
            raise LookupError(f"no call was placed for {out_id!r}")
        report = self.voice_report(call, status=status, dtmf=dtmf)
        return [await self._post(VOICE_CALLBACKS, report, client) for _ in range(times)]

    async def _post(
        self, path: str, body: object, client: httpx.AsyncClient | None
    ) -> httpx.Response:
        if client is not None:
            return await client.post(path, json=body, headers=self.callback_headers)
        if self.callback_url is None:
            raise RuntimeError("set callback_url (or pass a client) to post callbacks")
        async with httpx.AsyncClient(timeout=10) as fresh:
            return await fresh.post(
                self.callback_url.rstrip("/") + path, json=body, headers=self.callback_headers
            )

    # -- the app -----------------------------------------------------------------------------

    def _fault_for(self, kind: Kind) -> _Fault | None:
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.kind is None or fault.kind == kind:
                    return self._faults.pop(i)
        return None

    async def _answer(
        self, kind: Kind, out_id: str | None, status: int, body: dict[str, Any]
    ) -> JSONResponse:
        with self._lock:
            delay = self._delay_s
            self.requests.append(Seen(kind, out_id, status, body))
        if delay:
            await asyncio.sleep(delay)
        return JSONResponse(body, status_code=status)

    def _later(self, path: str, body: object) -> None:
        """Post a callback from the server's loop, after the answer (a real platform's receipt
        comes on its own)."""
        if self.callback_url is None:
            return

        async def post() -> None:
            await asyncio.sleep(0.05)
            # A platform gives up on a callback that fails; so does the double.
            with contextlib.suppress(httpx.HTTPError):
                await self._post(path, body, None)

        task = asyncio.get_running_loop().create_task(post())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _authorised(self, request: Request) -> bool:
        return self.token is None or request.headers.get("authorization") == f"Bearer {self.token}"

    def _build(self) -> FastAPI:
        app = FastAPI(title="provider double")

        async def gate(
            kind: Kind, request: Request, out_id: str | None
        ) -> JSONResponse | _Fault | None:
            """The answer a down, unauthorised or failing double gives before sending, the
            fault to apply after, or None."""
            with self._lock:
                down = self._down
            if down:
                return await self._answer(kind, out_id, 503, {"message": "service unavailable"})
            # Robots carry their key in the URL, never a token.
            if kind in ("sms", "voice") and not self._authorised(request):
                return await self._answer(kind, out_id, 401, {"message": "unauthorised"})
            fault = self._fault_for(kind)
            if fault is not None and fault.action == "fail":
                return await self._answer(kind, out_id, fault.status, {"message": "failed"})
            if fault is not None and fault.action == "refuse":
                if kind in ("wecom", "dingtalk"):
                    body: dict[str, Any] = {"errcode": int(fault.code), "errmsg": "refused"}
                else:
                    body = {"Code": fault.code, "Message": "refused", "RequestId": _uuid()}
                return await self._answer(kind, out_id, 200, body)
            return fault

        @app.post("/sms/send")
        async def sms(request: Request) -> JSONResponse:
            body = await _json(request)
            out_id = _text(body.get("out_id"))
            gated = await gate("sms", request, out_id)
            if isinstance(gated, JSONResponse):
                return gated
            try:
                params = json.loads(str(body["template_param"]))
                phone, sign, code = (
                    str(body["phone_numbers"]),
                    str(body["sign_name"]),
                    str(body["template_code"]),
                )
            except (KeyError, ValueError):
                return await self._answer(
                    "sms", out_id, 200, {"Code": "isv.INVALID_PARAMETERS", "RequestId": _uuid()}
                )
            with self._lock:
                sent = next((s for s in self.sms if out_id and s.out_id == out_id), None)
                if sent is None:
                    sent = SentSms(
                        biz_id=f"biz-{next(self._ids)}",
                        out_id=out_id or _uuid(),
                        phone_numbers=phone,
                        sign_name=sign,
                        template_code=code,
                        template_param=params if isinstance(params, dict) else {},
                        at=datetime.now(UTC),
                    )
                    self.sms.append(sent)
                    fresh = True
                else:
                    fresh = False
            if fresh and self.auto_sms_receipt is not None:
                receipt = self.sms_receipt(sent, success=self.auto_sms_receipt == "delivered")
                self._later(SMS_RECEIPTS, [receipt])
            if gated is not None:  # accept then fail
                return await self._answer("sms", out_id, 500, {"message": "failed"})
            answer = {"Code": "OK", "Message": "OK", "BizId": sent.biz_id, "RequestId": _uuid()}
            return await self._answer("sms", out_id, 200, answer)

        @app.post("/voice/call")
        async def voice(request: Request) -> JSONResponse:
            body = await _json(request)
            out_id = _text(body.get("out_id"))
            gated = await gate("voice", request, out_id)
            if isinstance(gated, JSONResponse):
                return gated
            number = _text(body.get("called_number"))
            tts_text, tts_code = _text(body.get("tts_text")), _text(body.get("tts_code"))
            if not number or not (tts_text or tts_code):
                return await self._answer(
                    "voice", out_id, 200, {"Code": "isv.INVALID_PARAMETERS", "RequestId": _uuid()}
                )
            tts_param = json.loads(str(body["tts_param"])) if body.get("tts_param") else None
            play_times = body.get("play_times")
            with self._lock:
                call = next((c for c in self.calls if out_id and c.out_id == out_id), None)
                fresh = call is None
                if call is None:
                    call = PlacedCall(
                        call_id=f"call-{next(self._ids)}",
                        out_id=out_id or _uuid(),
                        called_number=number,
                        tts_text=tts_text,
                        tts_code=tts_code,
                        tts_param=tts_param,
                        play_times=play_times if isinstance(play_times, int) else None,
                        at=datetime.now(UTC),
                    )
                    self.calls.append(call)
            if fresh and self.auto_voice_callback is not None:
                status, dtmf = self.auto_voice_callback
                self._later(VOICE_CALLBACKS, self.voice_report(call, status=status, dtmf=dtmf))
            if gated is not None:
                return await self._answer("voice", out_id, 500, {"message": "failed"})
            answer = {"Code": "OK", "Message": "OK", "CallId": call.call_id, "RequestId": _uuid()}
            return await self._answer("voice", out_id, 200, answer)

        async def robot(kind: Kind, request: Request, key: str | None) -> JSONResponse:
            body = await _json(request)
            gated = await gate(kind, request, None)
            if isinstance(gated, JSONResponse):
                return gated
            text = body.get("text")
            content = text.get("content") if isinstance(text, dict) else None
            if body.get("msgtype") != "text" or not isinstance(content, str):
                return await self._answer(kind, None, 200, {"errcode": 40008, "errmsg": "bad"})
            with self._lock:
                self.robot_posts.append(RobotPost(kind, key, content, datetime.now(UTC)))
            if gated is not None:
                return await self._answer(kind, None, 500, {"message": "failed"})
            return await self._answer(kind, None, 200, {"errcode": 0, "errmsg": "ok"})

        @app.post("/robot/wecom/send")
        async def wecom(request: Request, key: str | None = None) -> JSONResponse:
            return await robot("wecom", request, key)

        @app.post("/robot/dingtalk/send")
        async def dingtalk(request: Request, access_token: str | None = None) -> JSONResponse:
            return await robot("dingtalk", request, access_token)

        return app


def _uuid() -> str:
    return str(uuid.uuid4())


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


@contextmanager
def serve_app(app: Any, *, ready_timeout_s: float = 20.0) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1, a free port, in a daemon thread; yields its
    base URL and stops it on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + ready_timeout_s
    try:
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the served app did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def serving(double: ProviderDouble | None = None, **options: Any) -> Iterator[ProviderDouble]:
    """Serve a provider double (a new one made with `options`, e.g. token=..., callback_url=...)
    for the block."""
    served = double if double is not None else ProviderDouble(**options)
    with serve_app(served.app) as url:
        served.url = url
        yield served
