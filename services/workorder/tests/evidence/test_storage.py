"""The evidence stores: a local directory and a real S3-compatible server (versitygw). Both keep
each object's SHA-256 and refuse to serve bytes that do not match it."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest

from riskwatch.workorder.evidence.sniff import content_type_of
from riskwatch.workorder.evidence.storage import (
    ChecksumMismatch,
    InvalidKey,
    LocalStore,
    ObjectMissing,
    S3Config,
    S3Store,
    StorageError,
)

from .files import PDF, png
from .s3server import S3Server


async def test_local_store_round_trip(evidence_dir: Path) -> None:
    store = LocalStore(evidence_dir)
    data = png()
    stored = await store.put("workorders/wo-1/a-1", data, "image/png")
    assert (stored.sha256, stored.size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert await store.get("workorders/wo-1/a-1") == data
    assert (evidence_dir / "workorders/wo-1/a-1").read_bytes() == data
    # Written whole, then renamed: no temporary file is left beside it.
    assert sorted(p.name for p in (evidence_dir / "workorders/wo-1").iterdir()) == [
        "a-1",
        "a-1.sha256",
    ]
    await store.delete("workorders/wo-1/a-1")
    with pytest.raises(ObjectMissing):
        await store.get("workorders/wo-1/a-1")
    await store.delete("workorders/wo-1/a-1")  # gone already: nothing happens


async def test_local_store_never_replaces_an_object(evidence_dir: Path) -> None:
    store = LocalStore(evidence_dir)
    await store.put("k/one", b"first", "application/pdf")
    with pytest.raises(StorageError):
        await store.put("k/one", b"second", "application/pdf")
    assert await store.get("k/one") == b"first"


@pytest.mark.parametrize(
    "key",
    [
        "../outside",
        "workorders/../../outside",
        "/etc/passwd",
        "workorders//x",
        "workorders/..",
        "a\\b",
        "a/b\x00c",
        "",
        "a/b.sha256",  # would overwrite an object's checksum
        "é/x",
    ],
)
async def test_local_store_keys_never_leave_the_directory(evidence_dir: Path, key: str) -> None:
    store = LocalStore(evidence_dir)
    with pytest.raises(InvalidKey):
        await store.put(key, b"x", "image/png")
    with pytest.raises(InvalidKey):
        await store.get(key)
    with pytest.raises(InvalidKey):
        await store.delete(key)
    assert not (evidence_dir.parent / "outside").exists()


@pytest.fixture
def elsewhere(evidence_dir: Path, tmp_path: Path) -> Path:
    """A directory outside the store, linked from inside it as `workorders`."""
    target = tmp_path / "elsewhere"
    target.mkdir()
    evidence_dir.mkdir()
    os.symlink(target, evidence_dir / "workorders")
    return target


async def test_a_symlink_out_of_the_local_store_is_refused(
    evidence_dir: Path, elsewhere: Path
) -> None:
    with pytest.raises(InvalidKey):
        await LocalStore(evidence_dir).put("workorders/x", b"x", "image/png")
    assert not (elsewhere / "x").exists()


async def test_local_store_detects_altered_bytes(evidence_dir: Path) -> None:
    store = LocalStore(evidence_dir)
    await store.put("workorders/wo-1/a-1", png(), "image/png")
    path = evidence_dir / "workorders/wo-1/a-1"
    altered = bytearray(path.read_bytes())
    altered[-13] ^= 0x01
    path.write_bytes(bytes(altered))
    with pytest.raises(ChecksumMismatch) as caught:
        await store.get("workorders/wo-1/a-1")
    assert caught.value.expected == hashlib.sha256(png()).hexdigest()
    # A lost checksum is not a pass either.
    (evidence_dir / "workorders/wo-1/a-1.sha256").write_text("")
    with pytest.raises(ChecksumMismatch):
        await store.get("workorders/wo-1/a-1")


def test_types_are_told_by_content() -> None:
    assert content_type_of(png()) == "image/png"
    assert content_type_of(PDF) == "application/pdf"
    assert content_type_of(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00") == "image/jpeg"
    assert content_type_of(b"RIFF\x24\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert content_type_of(b"RIFF\x24\x00\x00\x00WAVEfmt ") is None
    assert content_type_of(b"just text, named photo.png") is None
    assert content_type_of(b"<svg xmlns='http://www.w3.org/2000/svg'/>") is None


def s3_store(server: S3Server, bucket: str) -> S3Store:
    return S3Store(
        S3Config(
            endpoint_url=server.endpoint_url,
            bucket=bucket,
            region="us-east-1",
            access_key_id=server.access_key_id,
            secret_access_key=server.secret_access_key,
        )
    )


async def test_s3_store_round_trip_against_a_real_server(s3_server: S3Server) -> None:
    store = s3_store(s3_server, "evidence")
    await store.ensure_bucket()
    await store.ensure_bucket()  # there already: nothing happens
    key = f"workorders/{uuid.uuid4()}/photo"
    data = png(padding=300_000)
    stored = await store.put(key, data, "image/png")
    assert (stored.sha256, stored.size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert await store.get(key) == data
    with pytest.raises(StorageError):  # never replaced
        await store.put(key, b"%PDF-other", "application/pdf")
    assert await store.get(key) == data
    await store.delete(key)
    with pytest.raises(ObjectMissing):
        await store.get(key)
    await store.delete(key)


async def test_s3_store_detects_bytes_altered_on_the_server(s3_server: S3Server) -> None:
    store = s3_store(s3_server, "evidence")
    await store.ensure_bucket()
    key = f"workorders/{uuid.uuid4()}/doc"
    await store.put(key, PDF, "application/pdf")
    on_disk = s3_server.root / "evidence" / key  # the gateway keeps objects as plain files
    on_disk.write_bytes(PDF.replace(b"Count 0", b"Count 9"))
    with pytest.raises(ChecksumMismatch):
        await store.get(key)


async def test_s3_store_refuses_a_wrong_secret(s3_server: S3Server) -> None:
    wrong = S3Store(
        S3Config(
            endpoint_url=s3_server.endpoint_url,
            bucket="evidence",
            region="us-east-1",
            access_key_id=s3_server.access_key_id,
            secret_access_key="not-the-secret",
        )
    )
    with pytest.raises(StorageError, match="403"):
        await wrong.put("workorders/x/y", b"%PDF-", "application/pdf")
