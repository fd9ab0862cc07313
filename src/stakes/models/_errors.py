"""The error a model backend raises: `ModelError`, a `StakesError` with `model.*` codes."""

from __future__ import annotations

from typing import Any

from stakes.errors import StakesError

__all__ = ["ModelError"]


class ModelError(StakesError):
    """A model call failed or its answer could not be read.

    Codes:
        `model.timeout`: the server did not answer within the timeout.
        `model.refused`: the connection was refused (nothing listens at the address).
        `model.connect`: any other connection failure.
        `model.http`: the server answered with an error status (after retries, for 429 and 5xx).
        `model.malformed`: the body is not JSON, or a field is missing or has the wrong type.
        `model.auth`: the API key environment variable is not set.
        `model.request`: the request itself is invalid (no messages, bad role, ...).
        `model.config`: the backend was configured with invalid values.
        `model.script`: a `ScriptedBackend` ran out of replies.

    Messages never contain the API key: backends mask it before raising.
    """

    default_code = "model.error"

    def __init__(self, message: str, *, code: str | None = None, **context: Any) -> None:
        super().__init__(message, code=code, **context)
