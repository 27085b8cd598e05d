"""Errors rendered in OpenAI's error shape.

Every error the mock answers has the body
``{"error": {"message": str, "type": str, "param": str | None, "code": str | None}}``.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.responses import JSONResponse


class OpenAIError(Exception):
    """An error answered in OpenAI's shape; raise it anywhere inside a request."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, dict[str, str | None]]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self, extra_headers: Mapping[str, str] | None = None) -> JSONResponse:
        headers = {**self.headers, **(extra_headers or {})}
        return JSONResponse(self.body(), status_code=self.status_code, headers=headers)


def invalid_request(
    message: str, *, param: str | None = None, code: str | None = None
) -> OpenAIError:
    return OpenAIError(400, message, param=param, code=code)
