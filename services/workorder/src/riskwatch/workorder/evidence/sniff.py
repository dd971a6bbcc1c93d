"""The type of a file by its first bytes (magic numbers), whatever its name or header say."""

from __future__ import annotations

from collections.abc import Callable

Sniffer = Callable[[bytes], bool]

SNIFFABLE: dict[str, Sniffer] = {
    "image/jpeg": lambda head: head.startswith(b"\xff\xd8\xff"),
    "image/png": lambda head: head.startswith(b"\x89PNG\r\n\x1a\n"),
    # RIFF <size> WEBP
    "image/webp": lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP",
    "application/pdf": lambda head: head.startswith(b"%PDF-"),
}

EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
}


def content_type_of(data: bytes) -> str | None:
    """The type the bytes are, among those known, or None."""
    head = data[:16]
    for content_type, matches in SNIFFABLE.items():
        if matches(head):
            return content_type
    return None
