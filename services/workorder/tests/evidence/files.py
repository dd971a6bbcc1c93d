"""Real files for evidence tests: a valid PNG made byte by byte, a minimal PDF."""

from __future__ import annotations

import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int = 2, height: int = 2, *, padding: int = 0) -> bytes:
    """An RGB PNG of one colour; `padding` bytes in a private ancillary chunk make it larger."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xd0\x30\x20" * width for _ in range(height))
    chunks = [_chunk(b"IHDR", header), _chunk(b"IDAT", zlib.compress(rows))]
    if padding:
        chunks.append(_chunk(b"rwPd", bytes(padding)))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks) + _chunk(b"IEND", b"")


PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
