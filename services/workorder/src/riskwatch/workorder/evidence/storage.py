"""Where evidence bytes live: a local directory (embedded mode) or an S3-compatible store.

Every object is stored with its SHA-256 and checked against it on every read: a mismatch is
`ChecksumMismatch`, never bytes served silently. Keys are a narrow alphabet of path segments
(`workorders/<id>/<id>`), so a key never names anything outside the store.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import httpx
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

# Segments of letters, digits, '.', '_' and '-', joined by '/'; no segment of dots only.
_SEGMENT = r"(?!\.+(?:/|$))[A-Za-z0-9._-]{1,128}"
_KEY = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT}){{0,7}}")
_CHECKSUM_SUFFIX = ".sha256"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# The S3 user metadata that carries the object's SHA-256 (hex).
_S3_SHA256_META = "x-amz-meta-sha256"


class StorageError(Exception):
    """The store failed or holds something it should not (never the client's fault)."""


class InvalidKey(ValueError):
    """A key outside the alphabet, or one that would name something outside the store."""


class ObjectMissing(StorageError):
    """Nothing is stored under the key."""


class ChecksumMismatch(StorageError):
    """The bytes read are not the bytes stored: altered or damaged at rest or on the way."""

    def __init__(self, key: str, *, expected: str, actual: str) -> None:
        super().__init__(f"{key}: stored sha256 {expected}, read {actual}")
        self.key = key
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True, slots=True)
class Stored:
    sha256: str  # hex
    size: int


class EvidenceStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> Stored:
        """Store `data` under `key` with its SHA-256; the key must not exist yet."""
        ...

    async def get(self, key: str) -> bytes:
        """The bytes under `key`, checked against the SHA-256 stored with them."""
        ...

    async def delete(self, key: str) -> None:
        """Remove `key`; nothing happens when it is not there."""
        ...


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key) or key.endswith(_CHECKSUM_SUFFIX):
        raise InvalidKey(f"not a storage key: {key[:200]!r}")
    return key


def verified(key: str, data: bytes, expected: str) -> bytes:
    actual = sha256_hex(data)
    if actual != expected:
        raise ChecksumMismatch(key, expected=expected, actual=actual)
    return data


class LocalStore:
    """Objects as files under `directory`, each beside a `<name>.sha256` file.

    Writes go to a temporary file in the same directory, are flushed to disk, then renamed
    into place: a reader sees a whole object or none. The checksum file is renamed first, so
    a visible object always has one (a crash between the renames leaves a checksum without an
    object, which reads as missing)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path:
        check_key(key)
        root = self.directory.resolve()
        path = (root / key).resolve()
        # The alphabet already refuses '..'; this also refuses a symlink inside the store
        # that points out of it.
        if not path.is_relative_to(root) or path == root:
            raise InvalidKey(f"key {key!r} leaves the store")
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> Stored:
        path = self._path(key)
        stored = Stored(sha256=sha256_hex(data), size=len(data))
        await asyncio.to_thread(self._write, path, data, stored.sha256)
        return stored

    def _write(self, path: Path, data: bytes, sha256: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            raise StorageError(f"{path.name} exists already")
        checksum = path.with_name(path.name + _CHECKSUM_SUFFIX)
        _atomic_write(checksum, sha256.encode("ascii"))
        _atomic_write(path, data)

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        return await asyncio.to_thread(self._read, key, path)

    def _read(self, key: str, path: Path) -> bytes:
        checksum = path.with_name(path.name + _CHECKSUM_SUFFIX)
        try:
            data = path.read_bytes()
            expected = checksum.read_text("ascii").strip()
        except FileNotFoundError as exc:
            raise ObjectMissing(key) from exc
        if not _SHA256_HEX.fullmatch(expected):
            raise ChecksumMismatch(key, expected=expected[:64], actual=sha256_hex(data))
        return verified(key, data, expected)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await asyncio.to_thread(self._remove, path)

    @staticmethod
    def _remove(path: Path) -> None:
        path.unlink(missing_ok=True)
        path.with_name(path.name + _CHECKSUM_SUFFIX).unlink(missing_ok=True)


def _atomic_write(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with temporary.open("xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    # The rename is durable once the directory entry is on disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class S3Config:
    endpoint_url: str
    bucket: str
    region: str
    access_key_id: str
    secret_access_key: str
    timeout_s: float = 30.0


class S3Store:
    """Objects in one bucket of an S3-compatible store, by path-style URL, signed with AWS
    Signature Version 4 (botocore's signer; httpx sends). The SHA-256 travels as user
    metadata and, over plain HTTP, as the signed payload hash the server checks on upload."""

    def __init__(self, config: S3Config) -> None:
        self.config = config
        parts = urlsplit(config.endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) endpoint: {config.endpoint_url!r}")
        self._base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self._credentials = Credentials(config.access_key_id, config.secret_access_key)

    def _url(self, key: str) -> str:
        return f"{self._base}/{self.config.bucket}/{check_key(key)}"

    async def _send(
        self,
        method: str,
        url: str,
        *,
        data: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        request = AWSRequest(method=method, url=url, data=data, headers=headers or {})
        S3SigV4Auth(self._credentials, "s3", self.config.region).add_auth(request)
        # One client per call: evidence moves a few times per work order, and nothing is
        # left open when the process stops.
        async with httpx.AsyncClient(timeout=self.config.timeout_s, trust_env=False) as client:
            try:
                return await client.request(
                    method, url, content=data, headers=dict(request.headers.items())
                )
            except httpx.HTTPError as exc:
                raise StorageError(f"{method} {url}: {type(exc).__name__}") from exc

    async def ensure_bucket(self) -> None:
        """Create the bucket when it is not there (a deployment usually provisions it)."""
        url = f"{self._base}/{self.config.bucket}"
        response = await self._send("HEAD", url)
        if response.status_code == 200:
            return
        response = await self._send("PUT", url)
        if response.status_code not in (200, 409):  # 409: created meanwhile
            raise StorageError(f"creating bucket {self.config.bucket}: {response.status_code}")

    async def put(self, key: str, data: bytes, content_type: str) -> Stored:
        stored = Stored(sha256=sha256_hex(data), size=len(data))
        headers = {
            "Content-Type": content_type,
            _S3_SHA256_META: stored.sha256,
            "If-None-Match": "*",  # never replace an object (servers without it ignore it)
        }
        response = await self._send("PUT", self._url(key), data=data, headers=headers)
        if response.status_code != 200:
            raise StorageError(f"PUT {key}: {response.status_code} {_s3_code(response)}")
        return stored

    async def get(self, key: str) -> bytes:
        response = await self._send("GET", self._url(key))
        if response.status_code == 404:
            raise ObjectMissing(key)
        if response.status_code != 200:
            raise StorageError(f"GET {key}: {response.status_code} {_s3_code(response)}")
        expected = response.headers.get(_S3_SHA256_META, "")
        if not _SHA256_HEX.fullmatch(expected):
            raise ChecksumMismatch(key, expected=expected[:64], actual=sha256_hex(response.content))
        return verified(key, response.content, expected)

    async def delete(self, key: str) -> None:
        response = await self._send("DELETE", self._url(key))
        if response.status_code not in (200, 204, 404):
            raise StorageError(f"DELETE {key}: {response.status_code} {_s3_code(response)}")


def _s3_code(response: httpx.Response) -> str:
    """The S3 error code of an answer (<Code>NoSuchKey</Code>), for the log; never its body."""
    match = re.search(rb"<Code>([A-Za-z0-9]{1,64})</Code>", response.content[:4096])
    return match.group(1).decode("ascii") if match else ""
