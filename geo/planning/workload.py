"""Workload replay: a grid worker's load under the current grids and under other grids.

Households are one measure of a grid's load; the cases a grid worker handles are the other.
:func:`replay` counts, beside each grid's households, the incidents of the last ``months``
months whose location falls in the grid (point in polygon), for the community's current
version and for another set of grids: a proposal not yet committed, or an older (or any)
version of the same community. A planner (and later a leader's review) compares the two.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

import shapely

from geo.errors import GridAtlasError

#: Longest look-back (months) a replay accepts.
MAX_MONTHS = 60


def _grids_of_version(cur, version_id: int) -> list[dict]:
    cur.execute(
        """SELECT code, households, ST_AsBinary(geom) AS wkb FROM grids
            WHERE version_id = %s ORDER BY code""",
        (version_id,),
    )
    return [{"code": r["code"], "households": int(r["households"] or 0),
             "geometry": shapely.from_wkb(bytes(r["wkb"]))} for r in cur.fetchall()]


def _count(grids: list[dict], points: list[tuple[Any, bool]]) -> tuple[list[dict], int]:
    """Per grid: incidents whose point lies in it (the lowest code wins on a shared edge)."""
    geoms = [g["geometry"] for g in grids]
    tree = shapely.STRtree(geoms)
    n_all = [0] * len(grids)
    n_open = [0] * len(grids)
    outside = 0
    for pt, is_open in points:
        hits = sorted(int(i) for i in tree.query(pt, predicate="intersects"))
        if not hits:
            outside += 1
            continue
        i = min(hits, key=lambda j: grids[j]["code"])
        n_all[i] += 1
        n_open[i] += int(is_open)
    rows = [{"code": g["code"], "households": g["households"], "incidents": n_all[i],
             "open_incidents": n_open[i]} for i, g in enumerate(grids)]
    return rows, outside


def _summary(rows: list[dict], outside: int) -> dict[str, Any]:
    inc = [r["incidents"] for r in rows]
    return {"grids": rows, "n_grids": len(rows), "incidents": int(sum(inc)),
            "max_incidents": max(inc, default=0), "min_incidents": min(inc, default=0),
            "outside": outside}


def replay(
    principal,
    community_code: str,
    *,
    version: int | str | None = None,
    proposal: Any = None,
    months: int = 12,
    until: dt.datetime | None = None,
) -> dict[str, Any]:
    """Households and the last ``months`` months' incidents per grid, current vs other grids.

    Parameters
    ----------
    principal:
        Who asks (``view.plan`` on the community).
    community_code:
        12-digit community code.
    version:
        Another version of the community to compare with (its id or ``COMMUNITY@NUMBER``).
    proposal:
        A :class:`~geo.planning.model.Proposal` of the community to compare with instead
        (its grids' polygons; households as proposed).
    months:
        Look-back from ``until`` (1..:data:`MAX_MONTHS`).
    until:
        End of the window (default: now).

    Returns
    -------
    dict
        ``community``, ``months``, ``since``, ``until``, ``current`` and (when a version or a
        proposal is given) ``other``; each ``{"label", "grids": [{"code", "households",
        "incidents", "open_incidents"}], "n_grids", "incidents", "max_incidents",
        "min_incidents", "outside"}``. Incidents are those reported in the window whose
        point lies in the community polygon; ``open_incidents`` are those not closed now.

    Raises
    ------
    GridAtlasError
        Bad months, both ``version`` and ``proposal``, a version or proposal of another
        community; ``PermissionDenied`` outside the principal's scope.
    """
    from geo import db
    from geo.access import permissions
    from geo.planning import data, versions

    permissions.check(principal, "view.plan", community_code)
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_MONTHS:
        raise GridAtlasError(f"回看月数须为 1 到 {MAX_MONTHS} (months must be 1..{MAX_MONTHS}), "
                             f"got {months!r}")
    if version is not None and proposal is not None:
        raise GridAtlasError("compare with a version or with a proposal, not both")
    if proposal is not None and proposal.community_code != community_code:
        raise GridAtlasError(f"the proposal is for community {proposal.community_code}, "
                             f"not {community_code}")
    until = until or dt.datetime.now(dt.UTC)
    since = _months_before(until, months)
    with db.transaction(readonly=True) as cur:
        com = data.community_row(cur, community_code)
        cur_ver = data.current_version(cur, int(com["id"]))
        if cur_ver is None:
            raise GridAtlasError(f"community {community_code} has no grids yet")
        cur.execute(
            """SELECT ST_AsBinary(i.geom) AS wkb, i.closed_at IS NULL AS is_open
                 FROM incidents i JOIN communities c ON c.id = %s
                WHERE i.reported_at >= %s AND i.reported_at < %s
                  AND ST_Intersects(c.geom, i.geom)
                ORDER BY i.id""",
            (int(com["id"]), since, until),
        )
        points = [(shapely.from_wkb(bytes(r["wkb"])), bool(r["is_open"])) for r in cur.fetchall()]
        current = _grids_of_version(cur, int(cur_ver["id"]))
        other, label = None, None
        if version is not None:
            ver = versions.resolve_version(cur, version)
            if ver["community_code"] != community_code:
                raise GridAtlasError(f"version {version} belongs to community "
                                     f"{ver['community_code']}, not {community_code}")
            other = _grids_of_version(cur, int(ver["id"]))
            label = f"version {ver['version_no']}"
    if proposal is not None:
        g = proposal.grids.to_crs(4326)
        other = [{"code": r.code, "households": int(r.households), "geometry": r.geometry}
                 for r in g.itertuples(index=False)]
        label = "proposal"
    rows, out = _count(current, points)
    result = {
        "community": community_code, "months": months, "since": since.isoformat(),
        "until": until.isoformat(),
        "current": {"label": f"version {cur_ver['version_no']}", **_summary(rows, out)},
    }
    if other is not None:
        rows, out = _count(other, points)
        result["other"] = {"label": label, **_summary(rows, out)}
    return result


def _months_before(t: dt.datetime, months: int) -> dt.datetime:
    """``t`` moved back by calendar months (the day clamped to the month's length)."""
    y, m = divmod(t.year * 12 + (t.month - 1) - months, 12)
    m += 1
    day = min(t.day, calendar.monthrange(y, m)[1])
    return t.replace(year=y, month=m, day=day)
