"""A service app in-process for the CLI tests: its ASGI transport (what the CLI's httpx client
is given) and tokens of accounts the app knows."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from riskwatch.common.settings import AuthSettings
from riskwatch.common.testing import account_bearer


@dataclass
class InProcess:
    app: FastAPI
    transport: httpx.ASGITransport
    auth: AuthSettings

    async def token(self, subject: str, *roles: str, scope: str = "district") -> str:
        headers = await account_bearer(self.app, self.auth, subject, roles=roles, scope=scope)
        return headers["Authorization"].removeprefix("Bearer ")
