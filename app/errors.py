"""Errors the application layer reports to the user as they are (no traceback)."""


class UsageError(Exception):
    """A bad argument: unknown branch, ambiguous event id, invalid edit..."""
