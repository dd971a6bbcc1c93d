"""The SMS file holds phone numbers: only its owner may read it (0600), the directory made for
it is private too (0700), and a file an earlier version left readable is made private."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from riskwatch.notify.notifications.sms import FileSmsProvider


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_sms_file_and_its_new_directory_are_private(tmp_path: Path) -> None:
    path = tmp_path / "data" / "sms-outbox.jsonl"
    old_umask = os.umask(0o022)  # the usual one, which would leave both readable by all
    try:
        await FileSmsProvider(path).send(to="+8613800000401", text="t", idempotency_key="k1")
    finally:
        os.umask(old_umask)
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700


async def test_a_readable_file_of_an_earlier_version_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "sms-outbox.jsonl"
    path.write_text('{"message_id": "file-1", "idempotency_key": "k0"}\n', encoding="utf-8")
    path.chmod(0o644)
    await FileSmsProvider(path).send(to="+8613800000402", text="t", idempotency_key="k2")
    assert mode(path) == 0o600
    assert len(path.read_text(encoding="utf-8").splitlines()) == 2
