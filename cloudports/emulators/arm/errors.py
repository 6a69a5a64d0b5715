"""The ARM error type raised by handlers and validators and turned into an HTTP error response."""

from __future__ import annotations

from typing import Any


class ArmError(Exception):
    """An ARM error: HTTP status plus the body ``{"error": {"code", "message", "details"}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.details = list(details or [])

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


def bad_request(code: str, message: str, **kwargs: Any) -> ArmError:
    return ArmError(400, code, message, **kwargs)
