"""The server's answers as the console reads them.  Unknown fields are ignored so that a
newer server can add to a response without breaking an older console."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Liveness(Answer):
    status: Literal["alive"]


class ReadinessChecks(Answer):
    database: str
    schema_: str = Field(alias="schema")


class Readiness(Answer):
    status: Literal["ready", "not_ready", "draining"]
    checks: ReadinessChecks


class ServerInfo(Answer):
    name: Literal["kluis"]
    version: str = Field(min_length=1, max_length=64)
    api_version: int = Field(ge=1)
    schema_revision: str = Field(min_length=1, max_length=64)
    ca_fingerprint: str | None = Field(default=None, max_length=200)
    time: AwareDatetime


class ErrorInfo(Answer):
    status: int
    code: str
    message: str
    request_id: str | None = None


class ErrorBody(Answer):
    error: ErrorInfo
