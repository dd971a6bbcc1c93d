"""Group robots of WeCom (企业微信) and DingTalk (钉钉): a duty center's group gets the message as
text. The recipient is "wecom:<webhook url>" or "dingtalk:<webhook url>".

Neither robot API takes an idempotency key: a retry after a robot accepted a message and the
answer was lost posts it to the group again. The URL comes from data (a duty center's
`robot_url`), so only hosts in the allow-list are posted to (the robots' own by default): a
center's URL cannot make notify call into the internal network.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from urllib.parse import urlsplit

import httpx

from riskwatch.notify.notifications.providers.base import SendError, post_json

DEFAULT_HOSTS = ("qyapi.weixin.qq.com", "oapi.dingtalk.com")


class RobotKind(StrEnum):
    WECOM = "wecom"
    DINGTALK = "dingtalk"


# errcodes worth another attempt: "system busy" (WeCom -1) and the robots' rate limits (WeCom
# 45009, DingTalk 130101: 20 messages a minute per robot). Any other (a wrong or disabled
# webhook, a keyword or signature check of the group) will not pass on a retry.
RETRYABLE_ERRCODES = frozenset({-1, 45009, 130101})


def parse_robot(recipient: str) -> tuple[RobotKind, str]:
    """("wecom" | "dingtalk", url) of a recipient; a SendError that retrying cannot mend for
    anything else."""
    kind, sep, url = recipient.partition(":")
    try:
        robot = RobotKind(kind)
    except ValueError:
        robot = None
    if not sep or robot is None:
        raise SendError("a group robot is 'wecom:<url>' or 'dingtalk:<url>'", retryable=False)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SendError(f"the {robot.value} robot's address is not a URL", retryable=False)
    return robot, url


class RobotClient:
    """Posts {"msgtype": "text", "text": {"content": ...}} (the same shape for both robots) and
    expects {"errcode": 0}."""

    name = "robot"

    def __init__(self, *, allowed_hosts: Iterable[str] = DEFAULT_HOSTS, timeout_s: float = 10.0):
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts)
        self._timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None  # made on first use, in the running loop

    async def post(self, recipient: str, text: str) -> None:
        robot, url = parse_robot(recipient)
        host = (urlsplit(url).hostname or "").lower()
        if host not in self.allowed_hosts:
            raise SendError(
                f"the {robot.value} robot's host is not among RW_ROBOT_ALLOWED_HOSTS",
                retryable=False,
            )
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout_s)
        what = f"{robot.value} robot"
        answer = await post_json(
            self._client,
            url,
            {"msgtype": "text", "text": {"content": text}},
            headers={},
            what=what,
        )
        errcode = answer.get("errcode")
        if isinstance(errcode, bool) or not isinstance(errcode, int):
            raise SendError(f"{what} answered without an errcode")
        if errcode != 0:
            raise SendError(
                f"{what} refused the message (errcode {errcode})",
                retryable=errcode in RETRYABLE_ERRCODES,
            )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
