"""The models every operation shares: the error object. Each operation's own request and
response models live beside its handlers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class FieldProblem(BaseModel):
    """Why one field of a request was refused."""

    code: str = Field(description="A stable code, e.g. `phone_invalid`.")
    message: str = Field(description="The same, for a person, in the language asked for.")


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str = Field(description="A stable code from the table in docs/api.md.")
    message: str = Field(description="What happened, for a person, in the language asked "
                                     "for (Accept-Language), else English.")
    until: datetime | None = Field(default=None, description="When the answer may change, "
                                   "where that is known.")
    retry_after: int | None = Field(default=None, description="Seconds to wait (429).")
    fields: dict[str, FieldProblem] | None = Field(
        default=None, description="Each refused field and why (422).")


class ErrorResponse(BaseModel):
    error: ErrorDetail
