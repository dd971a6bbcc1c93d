"""Mosquitto's password hash made by us is the one mosquitto_passwd makes, and checks."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

from riskwatch.ingest.mqtt.passwords import hash_password, new_password, verify_password


async def test_our_hash_is_mosquitto_passwds_for_the_same_salt(
    mosquitto: str, tmp_path: Path
) -> None:
    passwd = Path(mosquitto).with_name("mosquitto_passwd")
    if not passwd.exists():
        passwd = Path("/usr/bin/mosquitto_passwd")
    password = new_password()
    file = tmp_path / "passwd"
    process = await asyncio.create_subprocess_exec(
        str(passwd), "-c", "-b", str(file), "dev-1", password
    )
    assert await process.wait() == 0
    _, theirs = file.read_text().strip().split(":", 1)
    _, kind, iterations, salt, _ = theirs.split("$")
    assert kind == "7"
    ours = hash_password(password, salt=base64.b64decode(salt), iterations=int(iterations))
    assert ours == theirs
    assert verify_password(password, theirs)
    assert not verify_password(password + "x", theirs)


def test_a_fresh_hash_has_mosquittos_shape() -> None:
    hashed = hash_password("secret")
    _, kind, iterations, salt, digest = hashed.split("$")
    assert (kind, iterations) == ("7", "101")
    assert len(base64.b64decode(salt)) == 12
    assert len(base64.b64decode(digest)) == 64
    assert hashed != hash_password("secret")  # a new salt each time
    assert verify_password("secret", hashed)
