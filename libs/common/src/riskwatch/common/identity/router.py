"""POST /api/v1/auth/token: the OAuth2 password flow, answering a JWT."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel

from riskwatch.common.auth import TOKEN_PATH, TokenService
from riskwatch.common.errors import problem_responses
from riskwatch.common.identity.service import authenticate
from riskwatch.common.inputs import Key

router = APIRouter(tags=["auth"])


class TokenRead(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


@router.post(TOKEN_PATH, response_model=TokenRead, responses=problem_responses(401))
async def issue_token(
    request: Request,
    # The fields of OAuth2PasswordRequestForm that the issuer reads, with a username that can
    # name an account (one line, at most the column's 64 characters): anything else would
    # reach the account lookup and fail there. Scope and client fields are ignored.
    username: Annotated[Key, Form(max_length=64)],
    password: Annotated[str, Form(json_schema_extra={"format": "password"})],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
) -> TokenRead:
    async with request.app.state.sessions() as session:
        account = await authenticate(session, username=username, password=password)
    tokens: TokenService = request.app.state.tokens
    token, ttl = tokens.issue(account.username, roles=tuple(account.roles))
    return TokenRead(access_token=token, expires_in=ttl)
