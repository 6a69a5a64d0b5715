"""Text helpers every target uses for names and descriptions (each cloud's own rules live in its folder)."""

from __future__ import annotations

import hashlib


def short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."
