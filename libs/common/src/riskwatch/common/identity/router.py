"""POST /api/v1/auth/token: the OAuth2 password flow, answering a JWT."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from riskwatch.common.auth import TOKEN_PATH, TokenService
from riskwatch.common.identity.service import authenticate

router = APIRouter(tags=["auth"])


class TokenRead(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


@router.post(TOKEN_PATH, response_model=TokenRead)
async def issue_token(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> TokenRead:
    async with request.app.state.sessions() as session:
        account = await authenticate(session, username=form.username, password=form.password)
    tokens: TokenService = request.app.state.tokens
    token, ttl = tokens.issue(account.username, roles=tuple(account.roles))
    return TokenRead(access_token=token, expires_in=ttl)
