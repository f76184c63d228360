"""The registry server's errors: Confluent Schema Registry's error codes and the HTTP status each maps to.

Stock clients branch on `error_code` (and on the HTTP status), so the codes and the message wording follow
Confluent's `io.confluent.kafka.schemaregistry.rest.exceptions.Errors`. The HTTP status is the code's leading
three digits (40401 -> 404, 42201 -> 422, 50001 -> 500); the one exception is the incompatible-schema error,
which Confluent answers with HTTP 409 and error_code 409.

    CarebusError
    └── RegistryError                  carebus.errors: a registry answered with an error (status, code)
        └── RegistryApiError           this server's answer: an `ErrorCode` and a message
            └── WriterFencedError      another instance became the writer mid-write (the store retries)

Messages name subjects, versions, ids and levels, never a schema body; the one exception is the
incompatibility detail, which quotes the old schema exactly as Confluent does (schemas hold no PHI).
"""

from __future__ import annotations

from enum import IntEnum

from carebus.errors import RegistryError

__all__ = [
    "ErrorCode",
    "RegistryApiError",
    "WriterFencedError",
    "id_does_not_match",
    "incompatible_schema",
    "invalid_compatibility_level",
    "invalid_mode",
    "invalid_schema",
    "invalid_subject",
    "invalid_version",
    "operation_not_permitted",
    "reference_exists",
    "schema_not_found",
    "subject_compatibility_not_configured",
    "subject_mode_not_configured",
    "subject_not_found",
    "subject_not_soft_deleted",
    "subject_soft_deleted",
    "version_not_found",
    "version_not_soft_deleted",
    "version_soft_deleted",
]


class ErrorCode(IntEnum):
    """Confluent Schema Registry's `error_code` values that this server answers with."""

    BAD_REQUEST = 400  # the request body is not JSON (Confluent's rest-utils answers 400/400)
    NOT_FOUND = 404  # no such endpoint (rest-utils' generic 404)
    METHOD_NOT_ALLOWED = 405
    INCOMPATIBLE_SCHEMA = 409
    SUBJECT_NOT_FOUND = 40401
    VERSION_NOT_FOUND = 40402
    SCHEMA_NOT_FOUND = 40403
    SUBJECT_SOFT_DELETED = 40404
    SUBJECT_NOT_SOFT_DELETED = 40405
    SCHEMA_VERSION_SOFT_DELETED = 40406
    SCHEMA_VERSION_NOT_SOFT_DELETED = 40407
    SUBJECT_COMPATIBILITY_NOT_CONFIGURED = 40408
    SUBJECT_MODE_NOT_CONFIGURED = 40409
    INVALID_SCHEMA = 42201
    INVALID_VERSION = 42202
    INVALID_COMPATIBILITY_LEVEL = 42203
    INVALID_MODE = 42204
    OPERATION_NOT_PERMITTED = 42205
    REFERENCE_EXISTS = 42206
    ID_DOES_NOT_MATCH = 42207
    INVALID_SUBJECT = 42208
    STORE_ERROR = 50001
    OPERATION_TIMEOUT = 50002
    REQUEST_FORWARDING_FAILED = 50003
    INTERNAL_ERROR = 500

    @property
    def http_status(self) -> int:
        """The HTTP status Confluent answers this code with: its first three digits."""
        return self.value if self.value < 1000 else self.value // 100


class RegistryApiError(RegistryError):
    """An error this server answers with: `{"error_code": code, "message": message}` and the code's status."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(code.http_status, int(code), message)
        self.code = code


class WriterFencedError(RegistryApiError):
    """Another registry instance claimed the writer role while this one was writing; nothing was written."""

    def __init__(self, topic: str) -> None:
        super().__init__(ErrorCode.STORE_ERROR, f"another registry instance became the writer of {topic}")
        self.topic = topic


# Constructors with Confluent's wording, so the same error reads the same wherever it is raised.


def subject_not_found(subject: str) -> RegistryApiError:
    return RegistryApiError(ErrorCode.SUBJECT_NOT_FOUND, f"Subject '{subject}' not found.")


def version_not_found(version: int | str) -> RegistryApiError:
    return RegistryApiError(ErrorCode.VERSION_NOT_FOUND, f"Version {version} not found.")


def schema_not_found(schema_id: int | str | None = None) -> RegistryApiError:
    message = "Schema not found" if schema_id is None else f"Schema {schema_id} not found"
    return RegistryApiError(ErrorCode.SCHEMA_NOT_FOUND, message)


def subject_soft_deleted(subject: str) -> RegistryApiError:
    return RegistryApiError(
        ErrorCode.SUBJECT_SOFT_DELETED,
        f"Subject '{subject}' was soft deleted.Set permanent=true to delete permanently",
    )


def subject_not_soft_deleted(subject: str) -> RegistryApiError:
    return RegistryApiError(
        ErrorCode.SUBJECT_NOT_SOFT_DELETED,
        f"Subject '{subject}' was not deleted first before being permanently deleted",
    )


def version_soft_deleted(subject: str, version: int) -> RegistryApiError:
    return RegistryApiError(
        ErrorCode.SCHEMA_VERSION_SOFT_DELETED,
        f"Subject '{subject}' Version {version} was soft deleted.Set permanent=true to delete permanently",
    )


def version_not_soft_deleted(subject: str, version: int) -> RegistryApiError:
    return RegistryApiError(
        ErrorCode.SCHEMA_VERSION_NOT_SOFT_DELETED,
        f"Subject '{subject}' Version {version} was not deleted first before being permanently deleted",
    )


def subject_compatibility_not_configured(subject: str) -> RegistryApiError:
    return RegistryApiError(
        ErrorCode.SUBJECT_COMPATIBILITY_NOT_CONFIGURED,
        f"Subject '{subject}' does not have subject-level compatibility configured",
    )


def subject_mode_not_configured(subject: str) -> RegistryApiError:
    return RegistryApiError(
        ErrorCode.SUBJECT_MODE_NOT_CONFIGURED, f"Subject '{subject}' does not have subject-level mode configured"
    )


def invalid_schema(detail: str) -> RegistryApiError:
    return RegistryApiError(ErrorCode.INVALID_SCHEMA, detail)


def invalid_version(version: str) -> RegistryApiError:
    return RegistryApiError(
        ErrorCode.INVALID_VERSION,
        f"The specified version '{version}' is not a valid version id. "
        'Allowed values are between [1, 2^31-1] and the string "latest"',
    )


def invalid_compatibility_level() -> RegistryApiError:
    return RegistryApiError(
        ErrorCode.INVALID_COMPATIBILITY_LEVEL,
        "Invalid compatibility level. Valid values are none, backward, forward, full, "
        "backward_transitive, forward_transitive, and full_transitive",
    )


def invalid_mode(valid: str) -> RegistryApiError:
    return RegistryApiError(ErrorCode.INVALID_MODE, f"Invalid mode. Valid values are {valid}")


def invalid_subject(subject: str) -> RegistryApiError:
    return RegistryApiError(ErrorCode.INVALID_SUBJECT, f"The specified subject '{subject}' is not valid.")


def operation_not_permitted(message: str) -> RegistryApiError:
    return RegistryApiError(ErrorCode.OPERATION_NOT_PERMITTED, message)


def reference_exists(subject: str, version: int) -> RegistryApiError:
    return RegistryApiError(
        ErrorCode.REFERENCE_EXISTS,
        f"One or more references exist to the schema {{subject={subject},version={version}}}",
    )


def id_does_not_match(existing_id: int, requested_id: int) -> RegistryApiError:
    return RegistryApiError(
        ErrorCode.ID_DOES_NOT_MATCH,
        f"Schema already registered with id {existing_id} instead of input id {requested_id}",
    )


def incompatible_schema(subject: str, messages: list[str]) -> RegistryApiError:
    return RegistryApiError(
        ErrorCode.INCOMPATIBLE_SCHEMA,
        f'Schema being registered is incompatible with an earlier schema for subject "{subject}", '
        f"details: [{', '.join(messages)}]",
    )
