"""Is this object a video at all? Decided from its first bytes, before anything is uploaded."""

from __future__ import annotations

SNIFF_BYTES = 64


def looks_like_video(head: bytes) -> bool:
    """MP4/MOV (``ftyp``/``moov``/``mdat``/``wide``/``free`` box), WebM/Matroska (EBML), or AVI (RIFF)."""
    if len(head) >= 8 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"):
        return True
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return True
    return head.startswith(b"RIFF") and head[8:12] == b"AVI "
