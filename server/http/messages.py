"""The request a handler sees and the response it may return instead of a model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from pydantic import BaseModel

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(slots=True)
class Request:
    """An HTTP request, its head parsed, its body (if the route reads one) validated."""

    method: str
    path: str
    query_string: str
    headers: list[tuple[bytes, bytes]]
    request_id: str
    client: tuple[str, int] | None = None
    path_params: dict[str, Any] = field(default_factory=dict)
    query: BaseModel | None = None
    # What authentication attached (the principal, the device); see server.auth.
    state: dict[str, Any] = field(default_factory=dict)

    def header(self, name: bytes) -> str | None:
        """The first value of a header (name in lower case), decoded as Latin-1."""
        for key, value in self.headers:
            if key == name:
                return value.decode("latin-1")
        return None

    def query_params(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query_string, keep_blank_values=True)

    def query_as(self, model: type[ModelT]) -> ModelT:
        """The validated query of a route declared with ``query=model``."""
        if not isinstance(self.query, model):
            raise TypeError(f"route does not declare query model {model.__name__}")
        return self.query


@dataclass(slots=True)
class Response:
    """A response a handler builds itself (non-JSON content, extra headers, other statuses)."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, model: BaseModel, status: int = 200) -> Response:
        return cls(status=status, body=model.model_dump_json().encode())
