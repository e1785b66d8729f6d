"""Errors as the client sees them: one JSON shape for every failure."""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    """One problem with the request, located by a path such as ``body.items.0.amount``."""

    loc: str = Field(description="Where the problem is: body, query or path, then field names.")
    msg: str
    type: str


class ErrorInfo(BaseModel):
    status: int
    code: str = Field(description="Stable machine-readable error code.")
    message: str = Field(description="Human-readable explanation; never contains personal information.")
    request_id: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorInfo


class HTTPError(Exception):
    """Raise from a handler (or the HTTP layer) to answer with an error response."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str | None = None,
        *,
        details: Sequence[ErrorDetail] = (),
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.status = status
        self.code = code
        self.message = message or HTTPStatus(status).phrase
        self.details = list(details)
        self.headers = list(headers)
        super().__init__(f"{status} {code}")

    def body(self, request_id: str) -> bytes:
        return (
            ErrorBody(
                error=ErrorInfo(
                    status=self.status,
                    code=self.code,
                    message=self.message,
                    request_id=request_id,
                    details=self.details,
                )
            )
            .model_dump_json()
            .encode()
        )
