"""Errors of the recorder library; the glue maps each to one Home Assistant error."""

from __future__ import annotations


class RecorderError(Exception):
    """Base of all recorder errors."""


class BackendError(RecorderError):
    """The backend refused a request in a way retrying will not fix by itself."""


class BackendUnavailableError(BackendError):
    """The database cannot be reached or went away; the sender retries with backoff."""


class BackendAuthError(BackendError):
    """The database refused the credentials; the user must act."""


class SchemaVersionError(BackendError):
    """The database schema is newer than this version of Wattkeeper understands."""


class OutboxClosedError(RecorderError):
    """The outbox was used after `close()` (or before `open()`)."""
