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
    """The database cannot be reached.

    ``user_msg`` is a plain sentence that names no host, port, socket, user or database
    (it reaches browsers); ``detail`` holds the driver's words for the server log only.

    Parameters
    ----------
    user_msg:
        What a person may be told.
    detail:
        The low-level reason, logged where the error is raised; never shown.
    """

    def __init__(self, user_msg: str, detail: str = "") -> None:
        super().__init__(user_msg)
        self.detail = detail


class DatabaseBusy(DatabaseUnavailable):
    """No pooled connection became free within ``DB_POOL_TIMEOUT`` seconds.

    The database is up but every connection of this process is in use: the request is
    answered (503, or the wall's stale state) instead of waiting without bound.
    """


class CoverageError(GridAtlasError):
    """A grid version does not tile its community."""
