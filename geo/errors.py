"""Domain errors that carry a message meant for the user."""

from __future__ import annotations


class GridAtlasError(Exception):
    """Base error: ``user_msg`` is safe and useful to show to a person.

    Parameters
    ----------
    user_msg:
        What went wrong and, where possible, how to fix it.
    """

    def __init__(self, user_msg: str) -> None:
        super().__init__(user_msg)
        self.user_msg = user_msg


class ConfigError(GridAtlasError):
    """A setting is missing or malformed."""


class DatabaseUnavailable(GridAtlasError):
    """The database cannot be reached (password hidden from the message)."""


class CoverageError(GridAtlasError):
    """A grid version does not tile its community."""
