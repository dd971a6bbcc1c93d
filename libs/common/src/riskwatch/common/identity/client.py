"""Authentication for a long-running HTTP client of RiskWatch (the demo simulator): logs in,
refreshes the 15-minute access token before it ends, logs in again when the session ended.

    client = httpx.AsyncClient(base_url=url, auth=SessionAuth(url, "simulator", password))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import Any

import httpx

TOKEN_PATH = "/api/v1/auth/token"  # noqa: S105 - a URL path, not a secret
REFRESH_PATH = "/api/v1/auth/refresh"
# Refresh this long before the access token ends (clocks differ, requests take time).
MARGIN_S = 60.0


class SessionAuth(httpx.Auth):
    """Bearer tokens of one account from the issuer at `issuer_url`, kept fresh."""

    requires_response_body = True

    def __init__(
        self,
        issuer_url: str,
        username: str,
        password: str,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._issuer = httpx.URL(issuer_url)
        self._username = username
        self._password = password
        self._monotonic = monotonic
        self._access: str | None = None
        self._refresh: str | None = None
        self._expires_at = 0.0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._access is None or self._monotonic() >= self._expires_at - MARGIN_S:
            yield from self._renew()
        request.headers["Authorization"] = f"Bearer {self._access}"
        response = yield request
        if response.status_code == 401:  # revoked meanwhile: once more with a new token
            self._access = None
            yield from self._renew()
            request.headers["Authorization"] = f"Bearer {self._access}"
            yield request

    def _renew(self) -> Generator[httpx.Request, httpx.Response, None]:
        if self._refresh is not None:
            response = yield self._post(REFRESH_PATH, {"refresh_token": self._refresh})
            if response.status_code == 200:
                self._take(response.json())
                return
        response = yield self._post(
            TOKEN_PATH, {"username": self._username, "password": self._password}
        )
        response.raise_for_status()
        self._take(response.json())

    def _post(self, path: str, form: dict[str, str]) -> httpx.Request:
        return httpx.Request("POST", self._issuer.join(path), data=form)

    def _take(self, body: dict[str, Any]) -> None:
        self._access = str(body["access_token"])
        self._refresh = body.get("refresh_token")
        self._expires_at = self._monotonic() + float(body.get("expires_in", 0))
