"""One exception tree for healthcoop: every failure a user can meet is one of these.

Messages say what happened and what to do. What a failure *is* lives in its class: whether a
later attempt may succeed (`retryable`), whether no other record can escape it (`fatal`), and
its stable machine-readable `type` and `kind`. The HTTP service maps classes to status codes
in one place (`http/errors.py`), the CLI to exit codes in one place (`cli.exit_code`), and the
bulk runner writes them as error records. Every error pickles, so worker processes send them
as they are.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError


def _restore(cls: type[HealthcoopError], state: dict[str, Any]) -> HealthcoopError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message", ""))
    error.__dict__.update(state)
    return error


class HealthcoopError(Exception):
    """Base of every error healthcoop raises on purpose."""

    #: stable machine-readable name, used in HTTP error bodies and bulk error records
    type: str = "healthcoop_error"
    #: a later attempt with the same input may succeed (the server, not the record, failed)
    retryable: bool = False
    #: no other record will escape it either: a bulk run stops instead of recording it
    fatal: bool = False

    def __init__(self, message: str) -> None:
        message = printable(message)  # it reaches files, terminals and JSON: UTF-8 only
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # keyword-only arguments defeat Exception's default pickling: rebuild from the state
        return (_restore, (type(self), dict(self.__dict__)))

    def to_dict(self) -> dict[str, object]:
        return {"type": self.type, "message": self.message}


class ConfigError(HealthcoopError):
    """Settings are missing, contradictory, or point at something that is not there."""

    type = "config_error"
    fatal = True


class InputError(HealthcoopError):
    """The article cannot be processed as given (empty, too long, not UTF-8, malformed)."""

    type = "input_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = printable(field) if field is not None else None

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "field": self.field}


class StorageError(HealthcoopError):
    """The output file or the result store cannot be written (disk full, read-only, gone).
    Nothing already written is lost: stored answers stay, an old output file stays whole."""

    type = "storage_error"
    fatal = True


class OutputLocked(StorageError):
    """Another run is writing the same output file."""

    type = "output_locked"


class PromptError(HealthcoopError):
    """A prompt template is missing or does not render."""

    type = "prompt_error"
    fatal = True


class ExtractionError(HealthcoopError):
    """The model answered, but no answer validated within the allowed attempts."""

    type = "extraction_error"

    def __init__(self, message: str, *, attempts: int = 0, last_error: str | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.last_error = last_error

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "attempts": self.attempts}

    @classmethod
    def unexpected(cls, exc: Exception) -> ExtractionError:
        """One article's bug (an exception no door planned for), as that article's error, so
        it never stops a run of many."""
        return cls(
            f"the record could not be assembled ({type(exc).__name__}: {exc}); please report this"
        )


# ---------------------------------------------------------------- the model endpoint


class LLMError(HealthcoopError):
    """The model endpoint failed. Subclasses say how; `kind` names it in records."""

    type = "llm_error"
    kind = "error"

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after
        self.attempts = attempts  # HTTP requests made before giving up

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "kind": self.kind, "retryable": self.retryable}


class RateLimited(LLMError):
    """HTTP 429: the endpoint wants fewer requests (`retry_after` when it said how long)."""

    kind = "rate_limit"
    retryable = True


class Timeout(LLMError):
    """The endpoint did not answer within the timeout."""

    kind = "timeout"
    retryable = True


class ConnectionFailed(LLMError):
    """No connection: refused, reset, or closed before a whole answer arrived."""

    kind = "connection"
    retryable = True


class ServerError(LLMError):
    """HTTP 5xx from the endpoint."""

    kind = "server"
    retryable = True


class BadResponse(LLMError):
    """HTTP 200 that is not a usable completion (HTML, not JSON, no choices): a server fault."""

    kind = "bad_response"
    retryable = True


class AuthRejected(LLMError):
    """HTTP 401/403: the credentials were refused; every other record would fail the same way."""

    kind = "auth"
    fatal = True


class RequestRejected(LLMError):
    """Another HTTP 4xx: the endpoint refuses the request as built (model name, mode)."""

    kind = "client"


class WorkerDied(LLMError):
    """A bulk worker process died; what it held is asked again on the next run."""

    kind = "worker"
    retryable = True


class EngineFailed(LLMError):
    """The embedded model server could not be started."""

    kind = "engine"
    fatal = True


# ---------------------------------------------------------------- the HTTP service


class PayloadTooLarge(InputError):
    """The request body is over `service_max_body_bytes`."""

    type = "payload_too_large"


class InvalidRequest(InputError):
    """The request does not match its schema; carries one message per offending field."""

    def __init__(self, message: str, *, problems: list[dict[str, str]]) -> None:
        super().__init__(message, field=problems[0]["field"] if problems else None)
        self.problems = problems


class Unauthorized(HealthcoopError):
    """The bearer token is missing or wrong."""

    type = "unauthorized"


class NotReady(HealthcoopError):
    """The model endpoint is starting, or does not answer the readiness probe."""

    type = "not_ready"
    retryable = True


class RouteError(HealthcoopError):
    """No such route (404) or method (405), or another refusal by the HTTP layer itself."""

    def __init__(self, message: str, *, status: int, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.type = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
        self.status = status
        self.headers = headers or {}


class InternalError(HealthcoopError):
    """Something unplanned failed; the message carries an id to report it by."""

    type = "internal_error"


# ---------------------------------------------------------------- helpers


def problems(
    exc: ValidationError | Any, *, rename: dict[str, str] | None = None, default: str = "article"
) -> list[dict[str, str]]:
    """One {field, message} per pydantic (or FastAPI request) validation error, fields as
    dotted paths ("articles.2.text"); the only formatter of validation errors."""
    out = []
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ())]
        if loc and loc[0] == "body":
            loc = loc[1:]
        field = printable(".".join(loc)) or default
        if rename:
            field = rename.get(field, field)
        message = printable(str(e.get("msg", "")).removeprefix("Value error, "))
        out.append({"field": field, "message": message})
    return out


def describe(found: Sequence[dict[str, str]], limit: int = 5) -> str:
    """Problems as one line: "text: Field required; published: Input should be a date"."""
    return "; ".join(f"{p['field']}: {p['message']}" for p in found[:limit])


def surrogate_at(text: str) -> int | None:
    """Index of the first lone surrogate in `text` (a code point that is not Unicode, which
    JSON's \\ud800 escapes and undecodable file names carry), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def printable(text: str) -> str:
    """`text` with any lone surrogate written as its escape (\\ud800), so it can be encoded
    as UTF-8 wherever it goes: a message, a field name, an id made from a file name."""
    if surrogate_at(text) is None:
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


# Things shaped like credentials: bearer tokens, OpenAI-style keys, key=value pairs.
_SECRET_SHAPES = re.compile(
    r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"
    r"|\b(?:sk|pk|rk|key|api|tok)[-_][A-Za-z0-9_-]{12,}"
    r"|((?:api[_-]?key|token|secret|password|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{4,}"
)


def redact(text: str, *secrets: str | None) -> str:
    """`text` with the given secrets and anything shaped like a credential replaced."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return _SECRET_SHAPES.sub(lambda m: (m.group(1) or m.group(2) or "") + "[redacted]", text)
