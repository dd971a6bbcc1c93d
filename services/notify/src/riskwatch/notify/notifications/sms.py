"""SMS providers: the file adapter (default; the one a deployment replaces) and an HTTP
gateway adapter. Both honour the idempotency key, so a resend after a crash sends nothing
twice."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import httpx
import structlog
from pydantic import SecretStr

from riskwatch.common.inputs import is_one_line

log = structlog.get_logger(__name__)


class SendError(Exception):
    """A send that did not go through. The text is ours (never a provider's body), so it may
    be stored and shown to operators. `retryable=False`: trying again cannot help."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class SmsProvider(Protocol):
    # True when the provider's acceptance is the delivery (the file), False when a delivery
    # receipt comes later (a real gateway).
    confirms_delivery: bool

    async def send(self, *, to: str, text: str, idempotency_key: str) -> str:
        """Hand one message to the provider; returns its message id."""
        ...

    async def aclose(self) -> None: ...


class FileSmsProvider:
    """Appends one JSON line per message to a file; a key already in the file is not written
    again (its first message id is returned). The file holds phone numbers: it is readable by
    its owner alone (0600, also one an earlier version left readable), and a directory made
    for it is too (0700)."""

    confirms_delivery = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sent: dict[str, str] | None = None  # idempotency key -> message id
        self._lock = asyncio.Lock()

    async def send(self, *, to: str, text: str, idempotency_key: str) -> str:
        async with self._lock:
            if self._sent is None:
                self._sent = await asyncio.to_thread(self._load)
            existing = self._sent.get(idempotency_key)
            if existing is not None:
                return existing
            message_id = f"file-{uuid.uuid4().hex}"
            line = json.dumps(
                {
                    "message_id": message_id,
                    "idempotency_key": idempotency_key,
                    "to": to,
                    "text": text,
                    "sent_at": datetime.now(UTC).isoformat(),
                },
                ensure_ascii=False,
            )
            await asyncio.to_thread(self._append, line)
            self._sent[idempotency_key] = message_id
            return message_id

    async def aclose(self) -> None:
        return None

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
                    log.warning("sms_file_bad_line", path=str(self.path), line=number)
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


MESSAGE_ID_MAX = 255  # notify.notification.provider_message_id


class HttpSmsProvider:
    """POSTs {"to", "text"} with an Idempotency-Key and a bearer token; expects a 2xx answer
    {"message_id": ...}. Anything else is a SendError."""

    confirms_delivery = False

    def __init__(
        self, url: str, *, token: SecretStr | None = None, timeout_s: float = 10.0
    ) -> None:
        self.url = url
        self._token = token
        self._timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None  # made on first use, in the running loop

    async def send(self, *, to: str, text: str, idempotency_key: str) -> str:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout_s)
        headers = {"Idempotency-Key": idempotency_key}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        try:
            response = await self._client.post(
                self.url, json={"to": to, "text": text}, headers=headers
            )
        except httpx.HTTPError as exc:
            raise SendError(f"SMS provider unreachable ({type(exc).__name__})") from exc
        if not response.is_success:
            # A 4xx other than timeout or rate limit is about the message: it will not improve.
            retryable = response.status_code >= 500 or response.status_code in (408, 429)
            raise SendError(
                f"SMS provider answered HTTP {response.status_code}", retryable=retryable
            )
        try:
            message_id = response.json()["message_id"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SendError("SMS provider answered without a message_id") from exc
        # A text or a number (never a bool: True is an int to Python), one printable line that
        # fits the column: a gateway's odd answer must fail this send, not the batch it is in.
        if isinstance(message_id, bool) or not isinstance(message_id, str | int):
            raise SendError("SMS provider answered without a message_id")
        message_id = str(message_id)
        if not message_id:
            raise SendError("SMS provider answered without a message_id")
        if len(message_id) > MESSAGE_ID_MAX or not is_one_line(message_id):
            raise SendError("SMS provider answered a message_id that is not a short printable id")
        return message_id

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
