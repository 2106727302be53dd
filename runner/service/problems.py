"""Errors the service API answers with: a status, a type and a message for the user."""

from __future__ import annotations


class Problem(Exception):
    """A request the API refuses; ``str(problem)`` is the message shown to the user."""

    status = 400
    type = "InvalidRequest"


class InvalidRequest(Problem):
    pass


class Unauthorized(Problem):
    status = 401
    type = "Unauthorized"


class Forbidden(Problem):
    status = 403
    type = "Forbidden"


class NotFound(Problem):
    status = 404
    type = "NotFound"


class Conflict(Problem):
    status = 409
    type = "Conflict"


class CompileError(Problem):
    status = 422
    type = "CompileError"


class InvalidConfiguration(Problem):
    status = 422
    type = "InvalidConfiguration"


class Unavailable(Problem):
    """The service cannot do it now (its sandbox cannot start); the caller may try again."""

    status = 503
    type = "Unavailable"
