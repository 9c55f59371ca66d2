"""One exception tree for healthcoop: every failure a user can meet is one of these.

Messages say what happened and what to do. The HTTP service maps the tree to status codes in
one place (`app.py`), the CLI to exit codes (`cli.py`), the bulk runner to error records.
"""

from __future__ import annotations


class HealthcoopError(Exception):
    """Base of every error healthcoop raises on purpose."""

    #: stable machine-readable name, used in HTTP error bodies and bulk error records
    type: str = "healthcoop_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, object]:
        return {"type": self.type, "message": self.message}


class ConfigError(HealthcoopError):
    """Settings are missing, contradictory, or point at something that is not there."""

    type = "config_error"


class InputError(HealthcoopError):
    """The article cannot be processed as given (empty, too long, not UTF-8, malformed)."""

    type = "input_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "field": self.field}


class PromptError(HealthcoopError):
    """A prompt template is missing or does not render."""

    type = "prompt_error"


class LLMError(HealthcoopError):
    """The model endpoint failed: refused, timed out, rate limited, or answered an HTTP error."""

    type = "llm_error"

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status_code: int | None = None,
        retry_after: float | None = None,
        kind: str = "error",
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status_code = status_code
        self.retry_after = retry_after
        #: what happened: "connection", "timeout", "rate_limit", "server", "client", "error"
        self.kind = kind

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "kind": self.kind, "retryable": self.retryable}


class ExtractionError(HealthcoopError):
    """The model answered, but no answer validated within the allowed attempts."""

    type = "extraction_error"

    def __init__(self, message: str, *, attempts: int = 0, last_error: str | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.last_error = last_error

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "attempts": self.attempts}
