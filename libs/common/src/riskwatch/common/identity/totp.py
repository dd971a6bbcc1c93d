"""Time-based one-time codes (RFC 6238, what authenticator apps show): pure functions, the time
always given, never read.

A code is six digits for a 30-second step; the step before and the one after are accepted too
(a phone's clock a little off, a code typed as it changed), and a step once accepted is never
accepted again, so a code seen over someone's shoulder is already spent.
"""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

from riskwatch.common.access import ROLES

STEP_S = 30
DIGITS = 6
WINDOW = 1  # steps accepted either side of the current one


def new_secret() -> str:
    """A random 160-bit secret in base32 (what an authenticator app is given)."""
    return pyotp.random_base32()


def provisioning_uri(secret: str, *, username: str, issuer: str) -> str:
    """The otpauth:// URI an authenticator app reads (from a QR code, usually)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S).provisioning_uri(
        name=username, issuer_name=issuer
    )


def step_at(at: datetime) -> int:
    return int(at.timestamp()) // STEP_S


def code_at(secret: str, at: datetime) -> str:
    """The code an authenticator app shows at `at` (tests play the app with it)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S).generate_otp(step_at(at))


def matching_step(secret: str, code: str, *, at: datetime, last_step: int | None) -> int | None:
    """The time step `code` belongs to, if it is valid at `at` and newer than `last_step`."""
    code = code.strip()
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S)
    now = step_at(at)
    for step in range(now - WINDOW, now + WINDOW + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def is_administrator(roles: list[str] | tuple[str, ...]) -> bool:
    """Whether one of `roles` is one of the three separated administrators."""
    return any(ROLES[r].administrator for r in roles if r in ROLES)
