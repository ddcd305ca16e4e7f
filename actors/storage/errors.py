"""Errors every storage adapter raises, whatever the database underneath.

Adapters translate their driver's exceptions into these, so callers catch one set.
The driver's exception stays reachable as ``__cause__`` for logs.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of every storage failure. Also raised as-is for errors that are bugs
    rather than conditions (SQL syntax, a missing table, a wrong parameter type)."""


class StorageUnavailable(StorageError):
    """The database cannot be reached: connection refused or lost, server shutting
    down, storage closed. Retrying later may succeed."""


class StorageTimeout(StorageError):
    """A statement, a lock wait or waiting for a free connection took longer than
    the call's timeout. The statement was cancelled."""


class IntegrityViolation(StorageError):
    """A constraint refused the write (foreign key, check, not null, unique)."""


class UniqueViolation(IntegrityViolation):
    """A unique or primary key constraint refused the write: the row exists."""


class MigrationError(StorageError):
    """Migrations cannot be applied: an applied file was edited, a file name is
    malformed or duplicated, or a migration failed (then it was rolled back)."""
