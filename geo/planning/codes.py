"""Pure helpers for grid codes, matching and churn (no database, no I/O).

* Codes follow DESIGN.md: community code (12 digits) + 3-digit sequence, new sequences
  numbered in reading order (rows from north to south, west to east within a row).
* **Code keeping (one rule for plans, manual moves and the commit check):** a proposed grid
  keeps the code of a base grid when it holds *more than half of that grid's households*
  (of its buildings, for a grid without households) and is that grid's match
  (:func:`match`: one-to-one, greedy by shared households), so a code goes to at most one
  grid and a grid keeps at most one code (:func:`successors`). An unchanged grid always
  keeps its code. Any other grid gets a sequence number never used before in the
  community (above every number ever used there), so a retired code never comes back
  with other buildings.
* Matching old grids to new ones is one-to-one, greedy by shared households (then shared
  buildings, then codes): it names each new grid's predecessor and defines churn.
* **Short codes (:class:`ShortCodes`)** name the engine's new grids
  (:mod:`geo.partition.naming`): ``<prefix>G01`` for a fresh plan's grids in reading order,
  ``N01`` for minimal change's grids that succeed no current grid, ``X01`` for a building
  above the band alone.  ``rebalance-file`` writes them with the community as prefix; the
  stored path passes them without prefix and then replaces them by :func:`assign_codes`.
"""

from __future__ import annotations

from collections.abc import Container, Hashable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from geo.errors import GridAtlasError
from geo.partition.naming import first_free

MAX_SEQ = 999

#: letter of each kind of new grid in a short code (:mod:`geo.partition.naming`)
SHORT_LETTERS = {"fresh": "G", "new": "N", "oversized": "X"}


def make_code(community_code: str, seq: int) -> str:
    """The 15-digit grid code of sequence ``seq`` in a community."""
    if not 1 <= seq <= MAX_SEQ:
        raise GridAtlasError(
            f"community {community_code} has used every grid sequence number up to "
            f"{MAX_SEQ}; codes cannot be minted (restore an older version instead)"
        )
    return f"{community_code}{seq:03d}"


@dataclass(frozen=True)
class ShortCodes:
    """Codes of the engine's new grids: ``prefix`` + letter + two-digit number (see the
    module docstring; a :class:`geo.partition.naming.GridNames`).

    A ``fresh`` grid keeps its rank's number and takes a ``b`` while its code is in use; a
    ``new`` or ``oversized`` grid takes the first number from ``n`` whose code is free.
    """

    prefix: str = ""

    def name(self, kind: str, n: int, avoid: Container[str]) -> str:
        """The code of a new grid of ``kind`` and rank ``n``, never one in ``avoid``."""
        letter = SHORT_LETTERS.get(kind)
        if letter is None:
            raise ValueError(f"unknown kind of new grid {kind!r}")
        return first_free(lambda i: f"{self.prefix}{letter}{i:02d}", kind, n, avoid, taken_suffix="b")


def reading_order(xy: Mapping[Hashable, tuple[float, float]], row_height: float) -> list:
    """Keys ordered north to south in rows of ``row_height``, west to east within a row.

    Parameters
    ----------
    xy:
        Key -> representative point ``(x, y)`` in metres (y grows northwards).
    row_height:
        Height of a row in metres (typically the size of a grid); a point starts a new row
        when it lies more than this below the first point of the current row.

    Returns
    -------
    list
        The keys in reading order.
    """
    keys = sorted(xy, key=lambda k: (-xy[k][1], xy[k][0], str(k)))
    rows: list[list] = []
    top = None
    for k in keys:
        y = xy[k][1]
        if top is None or top - y > row_height:
            rows.append([])
            top = y
        rows[-1].append(k)
    return [k for row in rows for k in sorted(row, key=lambda k: (xy[k][0], -xy[k][1], str(k)))]


def successors(
    a: Mapping[int, str | None], b: Mapping[int, Hashable | None], households: Mapping[int, int]
) -> dict[str, Hashable]:
    """Old grid code -> the new grid that keeps it (see the module docstring).

    Parameters
    ----------
    a, b:
        Building id -> old grid code, and -> new grid label (any hashable).
    households:
        Building id -> households.

    Returns
    -------
    dict
        Only the old grids with a successor: more than half of their households (of their
        buildings, when they have none) in one new grid, which is also their :func:`match`.
    """
    flow = flows(a, b, households)
    tot: dict[str, list[int]] = {}
    for (ca, _), (h, nb) in flow.items():
        t = tot.setdefault(ca, [0, 0])
        t[0] += h
        t[1] += nb
    out = {}
    for ca, cb in match(flow).items():
        h, nb = flow[(ca, cb)]
        th, tb = tot[ca]
        if (th > 0 and 2 * h > th) or (th == 0 and 2 * nb > tb):
            out[ca] = cb
    return out


@dataclass(frozen=True)
class CodedGrid:
    """A proposed grid's final code: ``status`` is ``kept`` (the code of the base grid it
    succeeds, :func:`successors`) or ``new`` (a number never used in the community)."""

    code: str
    seq: int
    status: str


def assign_codes(
    groups: Mapping[Hashable, frozenset],
    base: Mapping[str, frozenset],
    *,
    community_code: str,
    used_seqs: Iterable[int],
    xy: Mapping[Hashable, tuple[float, float]],
    row_height: float,
    households: Mapping[int, int] | None = None,
) -> dict[Hashable, CodedGrid]:
    """Final codes for proposed grids: successors keep their base grid's code.

    Parameters
    ----------
    groups:
        Proposed grid (any label) -> its set of building ids.
    base:
        Base-version grid code -> its set of building ids.
    households:
        Building id -> households (``None``: every building counts 1).
    community_code:
        12-digit community code.
    used_seqs:
        Sequence numbers ever used in the community.
    xy, row_height:
        Representative points (metres) of the proposed grids, for :func:`reading_order`.

    Returns
    -------
    dict
        Label -> :class:`CodedGrid`.
    """
    a = {b: code for code, members in base.items() for b in members}
    lb = {b: label for label, members in groups.items() for b in members}
    hh = households if households is not None else {b: 1 for b in a}
    kept = {label: code for code, label in successors(a, lb, hh).items()}
    out: dict[Hashable, CodedGrid] = {}
    fresh = []
    for label in groups:
        code = kept.get(label)
        if code is not None:
            out[label] = CodedGrid(code, int(code[-3:]), "kept")
        else:
            fresh.append(label)
    nxt = max(list(used_seqs) + [0]) + 1
    for label in reading_order({k: xy[k] for k in fresh}, row_height):
        out[label] = CodedGrid(make_code(community_code, nxt), nxt, "new")
        nxt += 1
    return out


def flows(
    a: Mapping[int, str | None], b: Mapping[int, str | None], households: Mapping[int, int]
) -> dict[tuple[str, str], tuple[int, int]]:
    """``(a_code, b_code) -> (households, buildings)`` passing from grid a to grid b."""
    out: dict[tuple[str, str], list[int]] = {}
    for bid, ca in a.items():
        cb = b.get(bid)
        if ca is None or cb is None:
            continue
        cell = out.setdefault((ca, cb), [0, 0])
        cell[0] += int(households.get(bid, 0))
        cell[1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def match(flow: Mapping[tuple[str, str], tuple[int, int]]) -> dict[str, str]:
    """One-to-one old -> new grid matching, greedy by shared households then buildings."""
    pairs = sorted(flow.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))
    out: dict[str, str] = {}
    taken: set[str] = set()
    for (ca, cb), _ in pairs:
        if ca in out or cb in taken:
            continue
        out[ca] = cb
        taken.add(cb)
    return out


def churn(
    a: Mapping[int, str | None], b: Mapping[int, str | None], households: Mapping[int, int]
) -> tuple[dict[str, dict], dict]:
    """Per new grid and total churn between assignments ``a`` (before) and ``b`` (after).

    A building *stays* when its old grid is matched (:func:`match`) to its new grid; the
    households of every other building moved.

    Returns
    -------
    (dict, dict)
        ``{b_code: {"predecessor", "households_moved", "buildings_moved"}}`` and totals
        ``households_moved``, ``buildings_moved``, ``grids_before``, ``grids_after``,
        ``grids_kept`` (same code in both), ``codes_added``, ``codes_removed``.
    """
    m = match(flows(a, b, households))
    pred = {cb: ca for ca, cb in m.items()}
    per: dict[str, dict] = {
        c: {"predecessor": pred.get(c), "households_moved": 0, "buildings_moved": 0}
        for c in sorted({c for c in b.values() if c is not None})
    }
    hh_moved = b_moved = 0
    for bid, cb in b.items():
        if cb is None:
            continue
        ca = a.get(bid)
        if ca is not None and m.get(ca) == cb:
            continue
        h = int(households.get(bid, 0))
        per[cb]["households_moved"] += h
        per[cb]["buildings_moved"] += 1
        hh_moved += h
        b_moved += 1
    before = {c for c in a.values() if c is not None}
    after = set(per)
    totals = {
        "households_moved": hh_moved,
        "buildings_moved": b_moved,
        "grids_before": len(before),
        "grids_after": len(after),
        "grids_kept": len(before & after),
        "codes_added": sorted(after - before),
        "codes_removed": sorted(before - after),
    }
    return per, totals


def typical_size(areas_m2: Iterable[float]) -> float:
    """Side (m) of a square of the median grid area: the row height for reading order."""
    arr = np.asarray(list(areas_m2), dtype=float)
    if arr.size == 0:
        return 1.0
    return float(max(np.sqrt(np.median(arr)), 1.0))
