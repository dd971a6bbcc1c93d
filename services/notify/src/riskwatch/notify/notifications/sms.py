"""SMS providers: the file adapter (default; the one a deployment replaces) and the HTTP
adapter of a template SMS platform in the style of Chinese providers (Aliyun / Tencent: a
signature, a pre-approved template code and its parameters, an out id that deduplicates).
Both honour the idempotency key, so a resend after a crash or a lost answer sends nothing
twice."""

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

__all__ = [
    "GENERIC_PARAM",
    "FileSmsProvider",
    "HttpSmsProvider",
    "SendError",
    "SmsProvider",
]

# The parameter of the generic template that carries a whole rendered text.
GENERIC_PARAM = "content"
WHAT = "SMS provider"


# An SMS provider: the shared provider shape (providers.base.Provider).
SmsProvider = Provider


class FileSmsProvider(FileProvider):
    """The file SMS provider (default): one JSON line per message in a private file."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, name="sms-file", id_prefix="file")


class HttpSmsProvider:
    """A template SMS platform over HTTP. POSTs JSON

        {"phone_numbers", "sign_name", "template_code", "template_param", "out_id"}

    (`template_param` a JSON string of the parameters, `out_id` the idempotency key, by which
    the platform deduplicates a resend) with a bearer token, and expects
    {"Code": "OK", "BizId": ..., "RequestId": ...}; BizId is the message id its delivery
    receipts name. Another Code is a SendError, retryable or not (`providers.base.code_retryable`).

    A notification without a template id is sent through the configured generic template, its
    rendered text the single parameter `content` (a platform only sends approved templates;
    the generic one is approved as "${content}")."""

    name = "sms-http"
    confirms_delivery = False

    def __init__(
        self,
        url: str,
        *,
        token: SecretStr | None = None,
        sign_name: str = "RiskWatch",
        generic_template: str = "SMS_RISKWATCH_GENERIC",
        timeout_s: float = 10.0,
    ) -> None:
        self.url = url
        self.sign_name = sign_name
        self.generic_template = generic_template
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
        if template_id is None:
            template_code, values = self.generic_template, {GENERIC_PARAM: text}
        else:
            template_code, values = template_id, dict(params or {})
        body = {
            "phone_numbers": to,
            "sign_name": self.sign_name,
            "template_code": template_code,
            "template_param": json.dumps(values, ensure_ascii=False),
            "out_id": idempotency_key,
        }
        headers = {}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        answer = await post_json(self._client, self.url, body, headers=headers, what=WHAT)
        code = answer.get("Code")
        if code != "OK":
            known = error_code(code)
            if known is None:
                raise SendError(f"{WHAT} answered without a Code")
            raise SendError(
                f"{WHAT} refused the message ({known})", retryable=code_retryable(known)
            )
        return message_id_of(answer.get("BizId"), what=WHAT)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
