"""Voice providers (电话提醒): a text-to-speech call through an HTTP voice gateway, whose
callback reports the answer and the keypress, and the file adapter (default) so a deployment
without a gateway still has a voice channel. Both honour the idempotency key."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import httpx
from pydantic import SecretStr

from riskwatch.notify.notifications.providers.base import (
    FileProvider,
    Provider,
    SendError,
    code_retryable,
    error_code,
    message_id_of,
    post_json,
)

WHAT = "voice gateway"


# A voice gateway: the shared provider shape (base.Provider); `send` places a call that reads
# the text (or a pre-approved TTS template) out and returns the call id.
VoiceProvider = Provider


class FileVoiceProvider(FileProvider):
    """The file voice provider (default): one JSON line per call in a private file."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, name="voice-file", id_prefix="call")


class HttpVoiceProvider:
    """An HTTP voice gateway. POSTs JSON

        {"called_number", "tts_text" | ("tts_code", "tts_param"), "out_id", "play_times"}

    with a bearer token: the text read out, or a pre-approved TTS template and its parameters
    (a JSON string) when the notification has a template id; `out_id` is the idempotency key,
    by which the gateway places a call once. Expects {"Code": "OK", "CallId": ...}; its
    callback (POST /api/v1/voice/callbacks) names the call id and the out id."""

    name = "voice-http"
    confirms_delivery = False

    def __init__(
        self,
        url: str,
        *,
        token: SecretStr | None = None,
        play_times: int = 2,
        timeout_s: float = 10.0,
    ) -> None:
        self.url = url
        self.play_times = play_times
        self._token = token
        self._timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None  # made on first use, in the running loop

    async def send(
        self,
        *,
        to: str,
        text: str,
        idempotency_key: str,
        template_id: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> str:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout_s)
        body: dict[str, object] = {
            "called_number": to,
            "out_id": idempotency_key,
            "play_times": self.play_times,
        }
        if template_id is None:
            body["tts_text"] = text
        else:
            body["tts_code"] = template_id
            body["tts_param"] = json.dumps(dict(params or {}), ensure_ascii=False)
        headers = {}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        answer = await post_json(self._client, self.url, body, headers=headers, what=WHAT)
        code = answer.get("Code")
        if code != "OK":
            known = error_code(code)
            if known is None:
                raise SendError(f"{WHAT} answered without a Code")
            raise SendError(f"{WHAT} refused the call ({known})", retryable=code_retryable(known))
        return message_id_of(answer.get("CallId"), what=WHAT)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
