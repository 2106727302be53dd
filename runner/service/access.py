"""Who may do what: API tokens, their roles, and the checks each endpoint makes.

A token holds one or more grants. Workspace Owner may do everything; Functions Admin and
Functions Read-only cover all functions or a listed subset; Source Admin connects,
configures, deploys and pauses sources. A function a token cannot see does not exist for
it (404), whatever workspace it is in.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from typing import Any

import attrs

from runner.service.problems import Forbidden, InvalidRequest

OWNER = "workspace_owner"
FUNCTIONS_ADMIN = "functions_admin"
FUNCTIONS_READ = "functions_read"
SOURCE_ADMIN = "source_admin"
ROLES = (OWNER, FUNCTIONS_ADMIN, FUNCTIONS_READ, SOURCE_ADMIN)
# The functions roles, which may name the functions they cover; the others cover the
# whole workspace.
FUNCTION_ROLES = (FUNCTIONS_ADMIN, FUNCTIONS_READ)
TOKEN_PREFIX = "sfn_"


def new_secret() -> str:
    """A token secret: 256 random bits, recognisable by its prefix."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    # The secrets are random and long, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@attrs.frozen
class Grant:
    """A role, and for the functions roles the functions it covers (None: all)."""

    role: str = attrs.field(validator=attrs.validators.in_(ROLES))
    functions: tuple[str, ...] | None = None

    def covers(self, function_id: str) -> bool:
        return self.functions is None or function_id in self.functions

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role,
                "functions": list(self.functions) if self.functions is not None else None}


def parse_grants(document: Any) -> tuple[Grant, ...]:
    """Grants from the API's JSON; function references are kept as given (names or ids)."""
    if not isinstance(document, list) or not document:
        raise InvalidRequest("roles must be a non-empty list of {\"role\", \"functions\"}")
    grants = []
    for item in document:
        if not isinstance(item, dict) or set(item) - {"role", "functions"}:
            raise InvalidRequest("each role is an object with \"role\" and, for the "
                                 "functions roles, \"functions\"")
        role, functions = item.get("role"), item.get("functions")
        if role not in ROLES:
            raise InvalidRequest(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
        if functions is not None:
            if role not in FUNCTION_ROLES:
                raise InvalidRequest(f"{role} covers the whole workspace; "
                                     "only the functions roles take \"functions\"")
            if not isinstance(functions, list) or not all(isinstance(f, str)
                                                          for f in functions):
                raise InvalidRequest("functions must be a list of function ids or names")
            functions = tuple(functions)
        grants.append(Grant(role, functions))
    return tuple(grants)


@attrs.frozen
class Principal:
    """The caller of an API request: a token of one workspace and its grants."""

    workspace: str
    token_id: str
    grants: tuple[Grant, ...]

    def _has(self, roles: Iterable[str], function_id: str | None = None) -> bool:
        return any(g.role == OWNER or (g.role in roles and (
            function_id is None or g.covers(function_id))) for g in self.grants)

    def sees_function(self, function_id: str) -> bool:
        return self._has((FUNCTIONS_ADMIN, FUNCTIONS_READ, SOURCE_ADMIN), function_id)

    def require(self, allowed: bool, action: str) -> None:
        if not allowed:
            raise Forbidden(f"this token's roles do not allow {action}")

    def can_create_functions(self) -> bool:
        return any(g.role == OWNER or (g.role == FUNCTIONS_ADMIN and g.functions is None)
                   for g in self.grants)

    def can_edit_function(self, function_id: str) -> bool:
        return self._has((FUNCTIONS_ADMIN,), function_id)

    def can_test_function(self, function_id: str) -> bool:
        return self._has((FUNCTIONS_ADMIN, FUNCTIONS_READ), function_id)

    def can_manage_sources(self) -> bool:
        return self._has((SOURCE_ADMIN,))

    def can_manage_tokens(self) -> bool:
        return self._has(())
