"""The domain's error tree; `web/errors.py` maps each class to an HTTP status in one place.

DomainError
├── NotFound            the thing does not exist, or the viewer may not know it does (404)
├── NotAuthorized       no valid credentials (401)
├── Forbidden           valid credentials, not allowed (403)
├── Gone                existed once, deleted or suspended (410)
├── ValidationError     bad input, names the field (422)
├── Unprocessable       well-formed, but cannot be done as asked (422, message as given)
├── BadRequest          malformed request (400)
├── Conflict            the state does not allow it now (409)
└── RateLimited         too many attempts (429)
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""

    status = 500

    def __init__(self, message: str, *, description: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.description = description


class NotFound(DomainError):
    status = 404

    def __init__(self, message: str = "Record not found", **kwargs: str | None) -> None:
        super().__init__(message, **kwargs)


class NotAuthorized(DomainError):
    status = 401

    def __init__(self, message: str = "The access token is invalid", **kwargs: str | None) -> None:
        super().__init__(message, **kwargs)


class Forbidden(DomainError):
    status = 403

    def __init__(self, message: str = "This action is not allowed", **kwargs: str | None) -> None:
        super().__init__(message, **kwargs)


class Gone(DomainError):
    status = 410


class ValidationError(DomainError):
    """Input that parsed but breaks a rule; `field` names what to fix."""

    status = 422

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"Validation failed: {message}")
        self.field = field


class Unprocessable(DomainError):
    """422 with the message as given (Mastodon's "This method requires an authenticated user")."""

    status = 422


class BadRequest(DomainError):
    status = 400


class Conflict(DomainError):
    status = 409


class RateLimited(DomainError):
    status = 429

    def __init__(self, message: str = "Too many requests", **kwargs: str | None) -> None:
        super().__init__(message, **kwargs)
