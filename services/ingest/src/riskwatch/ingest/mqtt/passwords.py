"""Devices' MQTT passwords: made here, shown once, kept only as Mosquitto's own hash.

The format is what `mosquitto_passwd` writes and the broker's password file takes:
`$7$<iterations>$<salt, base64>$<PBKDF2-HMAC-SHA512, base64>` (12-byte salt, 64-byte hash).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

# mosquitto_passwd's default. The passwords are 32 random bytes, so stretching adds nothing
# against guessing; what it would add is broker CPU on every connect of a reconnect storm.
ITERATIONS = 101
SALT_BYTES = 12
PASSWORD_BYTES = 32
_PREFIX = "$7$"


def new_password() -> str:
    """A random password (256 bits, URL-safe base64, 43 characters)."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"{_PREFIX}{iterations}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, hashed: str) -> bool:
    """Whether `password` matches `hashed` (for the service's own checks; the broker checks
    devices' connects itself)."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7" or not parts[2].isdigit():
        return False
    try:
        salt = base64.b64decode(parts[3], validate=True)
        expected = base64.b64decode(parts[4], validate=True)
    except (ValueError, binascii.Error):
        return False
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(parts[2]))
    return hmac.compare_digest(digest, expected)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
