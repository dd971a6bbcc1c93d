"""What every provider adapter shares: the send error in our own words, the private JSON-lines
file of the file adapters, and reading an HTTP provider's answer without trusting it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
import structlog

from riskwatch.common.inputs import is_one_line

log = structlog.get_logger(__name__)

MESSAGE_ID_MAX = 255  # notify.notification.provider_message_id
_CODE = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


# Error codes of Chinese SMS and voice platforms that a later attempt can get past: the
# platform's own errors and its flow control (Aliyun isp.* / isv.BUSINESS_LIMIT_CONTROL,
# Tencent LimitExceeded.* / InternalError.*), and an account that ran dry (topped up, it sends
# again). Any other isv.* (the number, the template, the signature, the parameters) is the
# message's fault and is not retried.
_RETRYABLE_CODES = frozenset(
    {
        "isv.BUSINESS_LIMIT_CONTROL",
        "isv.DAY_LIMIT_CONTROL",
        "isv.AMOUNT_NOT_ENOUGH",
        "isv.OUT_OF_SERVICE",
        "SignatureNonceUsed",
    }
)
_RETRYABLE_PREFIXES = ("isp.", "Throttling", "LimitExceeded", "InternalError", "ServiceUnavailable")
_REQUEST_PREFIXES = ("isv.", "Invalid", "MissingParameter", "UnauthorizedOperation")


def code_retryable(code: str) -> bool:
    """Whether a platform's error code is worth another attempt. An unknown code that is not
    about the request is taken as the platform's: retried a bounded number of times, after
    which an alarm's SMS falls back to voice."""
    if code in _RETRYABLE_CODES or code.startswith(_RETRYABLE_PREFIXES):
        return True
    return not code.startswith(_REQUEST_PREFIXES)


class SendError(Exception):
    """A send that did not go through. The text is ours (never a provider's body), so it may
    be stored and shown to operators. `retryable=False`: trying again cannot help (the
    message is at fault, not the provider, so it does not count against its breaker)."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


def error_code(value: object) -> str | None:
    """A provider's error code if it looks like one (letters, digits, `_.:-`, short), for our
    messages; anything else from the provider is never repeated."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value)
    return text if _CODE.match(text) else None


def message_id_of(value: object, *, what: str) -> str:
    """A provider's message (or call) id: a text or a number (never a bool: True is an int to
    Python), one printable line that fits the column. A provider's odd answer fails this
    send, not the batch it is in."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise SendError(f"{what} answered without a message id")
    text = str(value)
    if not text:
        raise SendError(f"{what} answered without a message id")
    if len(text) > MESSAGE_ID_MAX or not is_one_line(text):
        raise SendError(f"{what} answered a message id that is not a short printable id")
    return text


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    body: Mapping[str, Any],
    *,
    headers: Mapping[str, str],
    what: str,
) -> dict[str, Any]:
    """POST `body`, return the answer's JSON object. Unreachable, a timeout, an HTTP error or an
    answer that is no JSON object is a SendError in our words; a 4xx other than timeout and
    rate limit is about the message and is not retried. Redirects are not followed (httpx's
    default): the URL is the one configured, never one a provider names."""
    try:
        response = await client.post(url, json=body, headers=dict(headers))
    except httpx.HTTPError as exc:
        raise SendError(f"{what} unreachable ({type(exc).__name__})") from exc
    if not response.is_success:
        retryable = response.status_code >= 500 or response.status_code in (408, 429)
        raise SendError(f"{what} answered HTTP {response.status_code}", retryable=retryable)
    try:
        answer = response.json()
    except ValueError as exc:
        raise SendError(f"{what} answered something that is not JSON") from exc
    if not isinstance(answer, dict):
        raise SendError(f"{what} answered something that is not a JSON object")
    return answer


class JsonLinesOutbox:
    """Appends one JSON line per message to a file; a key already in the file is not written
    again (its first message id is returned), across restarts too. The file holds phone
    numbers: it is readable by its owner alone (0600, also one an earlier version left
    readable), and a directory made for it is too (0700)."""

    def __init__(self, path: Path, *, id_prefix: str) -> None:
        self.path = path
        self._prefix = id_prefix
        self._sent: dict[str, str] | None = None  # idempotency key -> message id
        self._lock = asyncio.Lock()

    async def append_once(self, idempotency_key: str, entry: Mapping[str, Any]) -> str:
        async with self._lock:
            if self._sent is None:
                self._sent = await asyncio.to_thread(self._load)
            existing = self._sent.get(idempotency_key)
            if existing is not None:
                return existing
            message_id = f"{self._prefix}-{uuid.uuid4().hex}"
            line = json.dumps(
                {
                    "message_id": message_id,
                    "idempotency_key": idempotency_key,
                    **entry,
                    "sent_at": datetime.now(UTC).isoformat(),
                },
                ensure_ascii=False,
            )
            await asyncio.to_thread(self._append, line)
            self._sent[idempotency_key] = message_id
            return message_id

    def _load(self) -> dict[str, str]:
        sent: dict[str, str] = {}
        if not self.path.exists():
            return sent
        with self.path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                try:
                    entry = json.loads(line)
                    sent[str(entry["idempotency_key"])] = str(entry["message_id"])
                except (ValueError, KeyError, TypeError):
                    # A line cut short by a crash mid-write: that message was never recorded
                    # as sent, so it is sent (written) again.
                    log.warning("outbox_file_bad_line", path=str(self.path), line=number)
        return sent

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "a+b") as f:
            data = line.encode("utf-8") + b"\n"
            if f.tell() > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    # A line cut short by a crash: start afresh, never glue onto it.
                    data = b"\n" + data
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


class Provider(Protocol):
    """A provider that sends one message (an SMS, a call that reads it out) and returns its
    id. SMS and voice providers share this shape."""

    name: str  # for the delivery log and the circuit breaker
    # True when the provider's acceptance is the delivery (the files); False when a receipt or
    # callback reports it later (real platforms and gateways).
    confirms_delivery: bool

    async def send(
        self,
        *,
        to: str,
        text: str,
        idempotency_key: str,
        template_id: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> str:
        """Hand one message to the provider; returns its message (or call) id."""
        ...

    async def aclose(self) -> None: ...


class FileProvider:
    """Appends one JSON line per message ({message_id, idempotency_key, to, text, template_id,
    params, sent_at}) to a private file (0600); a key already in the file is not written again.
    The default SMS and voice providers: what a deployment replaces."""

    confirms_delivery = True

    def __init__(self, path: Path, *, name: str, id_prefix: str) -> None:
        self.path = path
        self.name = name
        self._outbox = JsonLinesOutbox(path, id_prefix=id_prefix)

    async def send(
        self,
        *,
        to: str,
        text: str,
        idempotency_key: str,
        template_id: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> str:
        entry: dict[str, object] = {"to": to, "text": text}
        if template_id is not None:
            entry |= {"template_id": template_id, "params": dict(params or {})}
        return await self._outbox.append_once(idempotency_key, entry)

    async def aclose(self) -> None:
        return None
