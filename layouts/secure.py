"""Callbacks that declare the action they perform.

``secure_callback(action, ...)`` registers a Dash callback exactly like ``dash.callback``
and records its action on the function; the gate in :mod:`layouts.auth` checks the
current principal against that action before Dash runs it. A callback registered any
other way has no action and is refused.
"""

from __future__ import annotations

from collections.abc import Callable

import dash

from geo.access.permissions import ACTIONS


def secure_callback(action: str, *args, **kwargs) -> Callable:
    """``dash.callback`` that records ``action`` (a key of the permission registry)."""
    if action not in ACTIONS:
        raise KeyError(f"unknown action {action!r}: add it to geo.access.permissions.ACTIONS")

    def decorate(func: Callable) -> Callable:
        func.gridatlas_action = action  # copied onto Dash's wrapper by functools.wraps
        return dash.callback(*args, **kwargs)(func)

    return decorate
