"""How the engine names new grids: the caller's scheme, never a code of the engine's own.

The engine decides *which* grids are new and which ones carry a code already (lineage: a
locked grid's code, or, in minimal mode, the current code a grid succeeds by the majority
rule, and every code in use or retired, which a new name must avoid).  The *names* of new
grids come from a :class:`GridNames` the caller passes to
:func:`geo.partition.engine.rebalance` (``names=``): the planner's grid codes
(:class:`geo.planning.codes.ShortCodes`, ``<community>-G01``) are minted in
:mod:`geo.planning.codes`, which the engine never imports.  Without one, new grids get
neutral :class:`Labels` (``fresh-01``), which are labels, not codes.

Kinds of new grids
------------------
``"fresh"``
    A grid of a fresh plan; ``n`` is its rank in reading order (north to south, west to
    east by its households-weighted centre), from 1.
``"new"``
    A minimal-change grid that succeeds no current grid (also the fresh comparison's grids
    that take none); the engine asks with ``n = 1`` and every name it must avoid.
``"oversized"``
    A building above the band's maximum, a grid alone; asked for like ``"new"``, north to
    south.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import Protocol

__all__ = ["KINDS", "GridNames", "Labels", "first_free"]

#: the kinds of new grids the engine names (see the module docstring)
KINDS = ("fresh", "new", "oversized")


class GridNames(Protocol):
    """A naming scheme for new grids (see the module docstring)."""

    def name(self, kind: str, n: int, avoid: Container[str]) -> str:
        """The name of a new grid of ``kind`` of rank ``n`` (from 1), never one in ``avoid``.

        ``"new"`` and ``"oversized"`` take the first free number from ``n`` on; a ``"fresh"``
        grid keeps its rank, so the names of the others do not move when one is in use.
        """
        ...


@dataclass(frozen=True)
class Labels:
    """Neutral names of new grids, ``<kind>-<nn>`` (``fresh-01``, ``new-03``,
    ``oversized-01``): what the engine returns when the caller passes no scheme.  A fresh
    label in use gets a ``+``."""

    def name(self, kind: str, n: int, avoid: Container[str]) -> str:
        """See :meth:`GridNames.name`."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind of new grid {kind!r}")
        return first_free(lambda i: f"{kind}-{i:02d}", kind, n, avoid, taken_suffix="+")


def first_free(stem: Callable[[int], str], kind: str, n: int, avoid: Container[str], *,
               taken_suffix: str) -> str:
    """The rule every :class:`GridNames` follows: ``stem(n)``, unless ``avoid`` holds it; then
    a ``"fresh"`` grid keeps its rank and takes ``taken_suffix`` (as often as needed), and
    the other kinds take the first free number after ``n``."""
    c = stem(n)
    while c in avoid:
        if kind == "fresh":
            c += taken_suffix
        else:
            n += 1
            c = stem(n)
    return c
