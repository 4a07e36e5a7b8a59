"""Typed domain errors and their one mapping to gRPC status codes.

Domain code raises these; the gRPC error interceptor turns them into a ``google.rpc.Status``
with details (``BadRequest`` field violations, ``PreconditionFailure``) so a client can show
which field was wrong. Anything else becomes INTERNAL with a generic message: a caller never
sees a trace.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2


class DomainError(Exception):
    """Base of every error a service means to show its caller."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> list[any_pb2.Any]:
        return []


class InvalidArgument(DomainError):
    """The request is malformed; ``violations`` maps field paths to what is wrong with them."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, message: str, violations: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.violations = list(violations)

    @classmethod
    def field(cls, field: str, problem: str) -> InvalidArgument:
        return cls(f"{field}: {problem}", [(field, problem)])

    def details(self) -> list[any_pb2.Any]:
        if not self.violations:
            return []
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
                for f, d in self.violations
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(bad)
        return [packed]


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(DomainError):
    """The system is not in a state where the call can run (e.g. email not verified)."""

    code = grpc.StatusCode.FAILED_PRECONDITION

    def __init__(self, message: str, violations: Iterable[tuple[str, str, str]] = ()) -> None:
        super().__init__(message)
        self.violations = list(violations)  # (type, subject, description)

    def details(self) -> list[any_pb2.Any]:
        if not self.violations:
            return []
        failure = error_details_pb2.PreconditionFailure(
            violations=[
                error_details_pb2.PreconditionFailure.Violation(type=t, subject=s, description=d)
                for t, s, d in self.violations
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(failure)
        return [packed]


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED


class ResourceExhausted(DomainError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Aborted(DomainError):
    """A concurrency conflict; the caller may retry."""

    code = grpc.StatusCode.ABORTED


class Unavailable(DomainError):
    code = grpc.StatusCode.UNAVAILABLE


def to_status(error: DomainError) -> status_pb2.Status:
    """The ``google.rpc.Status`` for a domain error (code, message, details)."""
    return status_pb2.Status(
        code=getattr(code_pb2, error.code.name),
        message=error.message,
        details=error.details(),
    )


INTERNAL_MESSAGE = "internal error; the failure was logged with its trace id"
