"""The exception tree. Every error PixyProxy raises on purpose is a ``PixyProxyException``.

Each class fixes the HTTP status and the machine code; the message is for humans and must
never contain SQL, file paths or secrets, because the web layer shows it to the caller.
"""

from __future__ import annotations

from typing import ClassVar


class PixyProxyException(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal Server Error"
    # What an instance says and how long the caller should wait, unless it is told otherwise.
    default_message: ClassVar[str] = "The request failed."
    default_retry_after_s: ClassVar[int | None] = None

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after_s: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message if message is not None else self.default_message
        super().__init__(self.message)
        self.retry_after_s = (
            retry_after_s if retry_after_s is not None else (self.default_retry_after_s)
        )
        self.headers = dict(headers or {})


class ConfigurationError(PixyProxyException):
    code = "configuration_error"


class InvalidRequest(PixyProxyException):
    status = 422
    code = "invalid_request"
    title = "Unprocessable Content"

    def __init__(self, message: str, *, errors: list[dict[str, object]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class ValidationFailed(InvalidRequest):
    """A request body that is not what the route takes (as FastAPI's own validation says)."""

    code = "validation_failed"


class NotFound(PixyProxyException):
    status = 404
    code = "not_found"
    title = "Not Found"


class ImageNotFound(NotFound):
    code = "image_not_found"

    def __init__(self, guid: str) -> None:
        super().__init__(f"No image with guid {guid}.")


class AuthenticationRequired(PixyProxyException):
    status = 401
    code = "authentication_required"
    title = "Unauthorized"

    def __init__(self, message: str = "A bearer token is required.") -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="pixyproxy"'})


class InvalidToken(AuthenticationRequired):
    code = "invalid_token"

    def __init__(self, message: str = "The bearer token is not valid.") -> None:
        super().__init__(message)
        self.headers["WWW-Authenticate"] = 'Bearer realm="pixyproxy", error="invalid_token"'


class Forbidden(PixyProxyException):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class NotTheAuthor(Forbidden):
    code = "not_the_author"

    def __init__(self) -> None:
        super().__init__("Only the image's author or an admin may change or delete it.")


class ImageDeleted(PixyProxyException):
    """An idempotent replay of a request whose image has been deleted since."""

    status = 410
    code = "image_deleted"
    title = "Gone"
    default_message = (
        "The image this Idempotency-Key made has been deleted; send a new key to make another."
    )


class PreconditionFailed(PixyProxyException):
    status = 412
    code = "precondition_failed"
    title = "Precondition Failed"
    default_message = "The image has changed since it was read (If-Match); read it again."


class UnsupportedMediaType(PixyProxyException):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported Media Type"


class Conflict(PixyProxyException):
    status = 409
    code = "conflict"
    title = "Conflict"


class RateLimited(PixyProxyException):
    status = 429
    code = "rate_limited"
    title = "Too Many Requests"


class PromptRejected(PixyProxyException):
    status = 422
    code = "prompt_rejected"
    title = "Unprocessable Content"


class UpstreamFailed(PixyProxyException):
    """The image generator failed or answered something unusable. ``reached_upstream`` is
    False when the request never got there (no connection could be made): it cannot
    have been billed, and the caller's quota does not count it."""

    status = 502
    code = "upstream_failed"
    title = "Bad Gateway"

    def __init__(self, message: str, *, kind: str, reached_upstream: bool = True) -> None:
        super().__init__(message)
        self.kind = kind
        self.reached_upstream = reached_upstream


class ServiceUnavailable(PixyProxyException):
    status = 503
    code = "service_unavailable"
    title = "Service Unavailable"


class UpstreamBusy(ServiceUnavailable):
    """The image generator is rate limiting or overloaded; the caller should retry later."""

    code = "upstream_busy"


class GenerationCapacityExceeded(ServiceUnavailable):
    code = "generation_capacity_exceeded"


class DatabaseUnavailable(ServiceUnavailable):
    code = "database_unavailable"
    default_message = "The database is unavailable."
    default_retry_after_s = 5


class CommitOutcomeUnknown(DatabaseUnavailable):
    """The connection broke while a COMMIT was on the wire: it may or may not have landed."""

    default_message = "The database connection was lost while committing."


class StorageUnavailable(ServiceUnavailable):
    code = "storage_unavailable"
    default_message = "The image store is not writable."
    default_retry_after_s = 30


class InsufficientStorage(PixyProxyException):
    status = 507
    code = "insufficient_storage"
    title = "Insufficient Storage"
    default_message = "The image store is full."


class InvalidRange(PixyProxyException):
    status = 400
    code = "invalid_range"
    title = "Bad Request"


class RangeNotSatisfiableError(PixyProxyException):
    status = 416
    code = "range_not_satisfiable"
    title = "Range Not Satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__(
            f"The range is outside the image's {size} bytes.",
            headers={"Content-Range": f"bytes */{size}"},
        )


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"

    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still being processed; retry shortly.",
            retry_after_s=5,
        )


class IdempotencyKeyReused(InvalidRequest):
    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was used with a different request body.",
            errors=[{"loc": ["header", "Idempotency-Key"], "msg": "already used for another body"}],
        )
