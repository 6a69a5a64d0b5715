"""Fault injection: make the next matching requests fail, or their long-running operations end Failed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ArmError

# The code a fault gets when the test names only a status.
_DEFAULT_CODES = {429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable"}


@dataclass
class Fault:
    """The next ``count`` requests matching method + path regex fail (or, with async_failure, their LRO fails)."""

    id: int
    method: str
    path: re.Pattern[str]
    status: int
    code: str
    message: str
    retry_after: float | None
    count: int
    async_failure: bool
    headers: dict[str, str]
    drop_answer: bool = False  # carry the request out, then close the connection without answering

    def matches(self, method: str, path: str) -> bool:
        return self.count > 0 and self.method in ("*", method.upper()) and bool(self.path.search(path))

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path.pattern,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "retry_after": self.retry_after,
            "count": self.count,
            "async_failure": self.async_failure,
            "drop_answer": self.drop_answer,
        }


class Faults:
    """The pending faults, in the order they were injected (the first match wins)."""

    def __init__(self) -> None:
        self._items: list[Fault] = []
        self._ids = 0

    def reset(self) -> None:
        """Forget every fault and restart the ids at 1."""
        self._items.clear()
        self._ids = 0

    def clear(self) -> None:
        self._items.clear()

    def describe(self) -> list[dict[str, Any]]:
        return [f.describe() for f in self._items if f.count > 0]

    def inject(
        self,
        method: str,
        path: str,
        *,
        status: int,
        code: str | None,
        message: str | None,
        retry_after: float | None,
        count: int,
        async_failure: bool,
        headers: Mapping[str, str] | None,
        drop_answer: bool = False,
    ) -> int:
        code = code if code is not None else _DEFAULT_CODES.get(status, "InjectedFault")
        self._ids += 1
        self._items.append(
            Fault(
                id=self._ids,
                method=method.upper(),
                path=re.compile(path, re.IGNORECASE),
                status=status,
                code=code,
                message=message or f"Injected fault {code}.",
                retry_after=retry_after,
                count=count,
                async_failure=async_failure,
                headers=dict(headers or {}),
                drop_answer=drop_answer,
            )
        )
        return self._ids

    def _take(self, method: str, path: str, *, async_failure: bool, drop: bool = False) -> Fault | None:
        for fault in self._items:
            kind_matches = fault.async_failure == async_failure and fault.drop_answer == drop
            if kind_matches and fault.matches(method, path):
                fault.count -= 1
                return fault
        return None

    def raise_if_failing(self, method: str, path: str) -> None:
        """Raise the error of the first matching synchronous fault, if any (it is then used up once)."""
        fault = self._take(method, path, async_failure=False)
        if fault is None:
            return
        extra = dict(fault.headers)
        if fault.retry_after is not None:
            extra["Retry-After"] = f"{fault.retry_after:g}"
        raise ArmError(fault.status, fault.code, fault.message, headers=extra)

    def take_async_failure(self, method: str, path: str) -> tuple[str, str] | None:
        """(code, message) with which the operation started by this request must fail, if a fault says so."""
        fault = self._take(method, path, async_failure=True)
        return None if fault is None else (fault.code, fault.message)

    def take_dropped_answer(self, method: str, path: str) -> bool:
        """Whether the answer to this request (already carried out) must be lost: the connection is closed."""
        return self._take(method, path, async_failure=False, drop=True) is not None
