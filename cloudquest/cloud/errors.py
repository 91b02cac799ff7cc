"""Errors the cloud's API returns, named the way AWS names them."""

from __future__ import annotations


class CloudError(Exception):
    """A rejected API call. The call changed nothing; ``code`` is the API error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
