"""Writing grid versions: commit a proposal, restore an old version (one transaction each).

Everything here takes the caller's cursor and writes nothing outside it; the caller
(:mod:`geo.planning.api`) opens the transaction, so a crash anywhere before ``COMMIT`` leaves
the previous version current. Order of work inside the transaction:

1. lock the community row (``FOR NO KEY UPDATE``: reports referring to it are not held up)
   and its ``grid_versions`` rows (``FOR UPDATE``) and compare the
   current version with the plan's base version: a mismatch is a :class:`PlanConflict`;
2. write the version (:func:`geo.repository.writers.write_grid_version`, polygons = unions
   of stored building cells for a plan, copied polygons for a restore);
3. lineage (old grid > new grids, households passing between them);
4. cameras and *open* incidents relocated by point in polygon (incident history kept);
   closed incidents keep the grid they were handled in;
5. grid workers follow the new grid with the largest household overlap with their old grid;
6. coverage checked now (the deferred trigger would refuse at COMMIT anyway; checking here
   gives a message naming the grids before more work is done);
7. coarse map copies of the district recomputed; 8. one audit entry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import shapely

from geo.access import audit
from geo.access.roles import Principal
from geo.errors import GridAtlasError
from geo.networks.roles import follow_redraw
from geo.planning import codes as codes_mod
from geo.planning import data
from geo.planning.model import CommitResult, PlanConflict, Proposal
from geo.repository.writers import (
    GridSpec,
    check_coverage_now,
    move_points_to_version,
    write_grid_version,
)

log = logging.getLogger(__name__)


def _noop(cur: Any) -> None:
    return None


#: Called with the cursor right before the transaction commits. Production leaves it a
#: no-op; the crash test replaces it (in a subprocess) to pause there and be killed.
before_commit: Callable[[Any], None] = _noop


def lock_community(cur, community_code: str) -> dict:
    """Lock the community and its versions; return the community row and current version.

    Returns
    -------
    dict
        The community row (see :func:`geo.planning.data.community_row`) plus ``current``
        (``id``, ``version_no``, ``created_at``, ``created_by``, or ``None``).
    """
    row = data.community_row(cur, community_code)
    # NO KEY UPDATE: two commits of a community still wait for each other, but a row that
    # only refers to the community (an Open311 report, an incident: the foreign key's KEY
    # SHARE) is written at once instead of waiting for the whole commit
    cur.execute("SELECT id FROM communities WHERE id = %s FOR NO KEY UPDATE", (row["id"],))
    cur.execute("SELECT id FROM grid_versions WHERE community_id = %s FOR UPDATE",
                (row["id"],))
    cur.fetchall()
    # a new statement, so a version committed while we waited for the lock is seen
    row["current"] = data.current_version(cur, int(row["id"]))
    return row


def _conflict(community_code: str, base_id: int | None, base_no: int | None, cur_ver: dict | None):
    if cur_ver is None:
        now = "it has no current version"
    else:
        who = cur_ver.get("created_by") or "someone"
        when = cur_ver["created_at"].strftime("%Y-%m-%d %H:%M") if cur_ver.get("created_at") \
            else "?"
        now = f"version {cur_ver['version_no']} by {who} at {when} is current now"
    base = f"version {base_no}" if base_id is not None else "no version"
    return PlanConflict(
        f"community {community_code} changed since this plan was computed from {base}: "
        f"{now}. Nothing was written; compute the plan again (or compare it with the "
        "current version first).")


def write_plan(cur, principal: Principal, prop: Proposal, *, note: str | None = None,
               allow_out_of_band: bool = False, refresh_coarse: bool = True) -> CommitResult:
    """Commit ``prop`` as the community's new current version (inside ``cur``'s transaction).

    ``refresh_coarse=False`` leaves the district's coarse map copies to the caller (a street
    commit refreshes them once for all its communities, :mod:`geo.planning.street`).

    Raises
    ------
    PlanConflict
        The current version is not the plan's base, the buildings changed, or a minted code
        was used meanwhile.
    geo.errors.CoverageError
        The new grids do not tile the community (grids named).
    """
    t0 = time.perf_counter()
    com = lock_community(cur, prop.community_code)
    cur_ver = com["current"]
    cur_id = int(cur_ver["id"]) if cur_ver else None
    if cur_id != prop.base_version_id:
        raise _conflict(prop.community_code, prop.base_version_id, prop.base_version_no, cur_ver)
    cid = int(com["id"])
    cur.execute("SELECT id FROM buildings WHERE community_id = %s", (cid,))
    now_ids = {int(r["id"]) for r in cur.fetchall()}
    if now_ids != set(prop.labels):
        raise PlanConflict(
            f"the buildings of community {prop.community_code} changed since this plan was "
            f"computed ({len(now_ids)} now, {len(prop.labels)} in the plan). Nothing was "
            "written; compute the plan again.")
    # codes, checked against the database: a grid keeps a current code only when it is
    # that grid's successor (codes.successors: more than half of its households); any
    # other code's number was never used before
    used = data.used_seqs(cur, cid)
    base_assign = data.version_assignment(cur, cur_id) if cur_id else {}
    base_sets: dict[str, set[int]] = {}
    for bid, c in base_assign.items():
        base_sets.setdefault(c, set()).add(bid)
    new_sets: dict[str, set[int]] = {}
    for bid, c in prop.labels.items():
        new_sets.setdefault(c, set()).add(int(bid))
    cur.execute("SELECT id, households FROM buildings WHERE community_id = %s", (cid,))
    hh_now = {int(r["id"]): int(r["households"]) for r in cur.fetchall()}
    succ = codes_mod.successors(base_assign, prop.labels, hh_now)
    changed = sorted(c for c in new_sets if c in base_sets and succ.get(c) != c)
    clash = sorted(c for c in new_sets if c not in base_sets and int(c[-3:]) in used)
    if changed or clash:
        raise PlanConflict(
            f"grid code(s) {', '.join(changed + clash)} cannot be written in community "
            f"{prop.community_code}: a grid keeps a code only when it holds more than half "
            "of that grid's households, and any other grid needs a code never used before. "
            "Nothing "
            "was written; compute the plan again.")
    base_codes: set[str] = set()
    if cur_id is not None:
        cur.execute("SELECT code FROM grids WHERE version_id = %s", (cur_id,))
        base_codes = {r["code"] for r in cur.fetchall()}
    grids = prop.grids
    specs = [GridSpec(code=r.code, seq=int(r.code[-3:]),
                      kind=r.kind if r.kind in ("basic", "dedicated") else "basic",
                      name=str(r.name) if isinstance(r.name, str) else None)
             for r in grids.itertuples(index=False)]
    res = write_grid_version(
        cur, cid, specs, assignment=prop.labels, source="derived",
        created_by=principal.username, note=note, relocate_points=False,
    )
    accepted = [g for g in prop.gate if g["severity"] == "band"] if allow_out_of_band else []
    detail = {
        "mode": prop.params.get("mode"), "seed": prop.params.get("seed"),
        "params": prop.params, "base_version_id": prop.base_version_id,
        "base_version_no": prop.base_version_no, "churn": prop.churn,
        "manual_moves": len(prop.moves), "accepted_out_of_band": accepted, "note": note,
    }
    result = _after_write(
        cur, principal, "grids.commit", com, prev_id=cur_id, version_id=res.version_id,
        version_no=res.version_no, base_codes=base_codes, detail=detail, refresh_coarse=refresh_coarse)
    result.seconds = round(time.perf_counter() - t0, 3)
    return result


def resolve_version(cur, ref: int | str) -> dict:
    """A version by id (``123``) or by community code and number (``990100002003@2``)."""
    if isinstance(ref, str) and "@" in ref:
        code, _, no = ref.partition("@")
        if not no.isdigit():
            raise data.NotFound(f"{ref!r}: write COMMUNITY@NUMBER, e.g. 990100002003@2")
        cur.execute(
            """SELECT v.*, c.code AS community_code FROM grid_versions v
                 JOIN communities c ON c.id = v.community_id
                WHERE c.code = %s AND v.version_no = %s""",
            (code, int(no)),
        )
    else:
        try:
            vid = int(ref)
        except (TypeError, ValueError):
            raise data.NotFound(
                f"{ref!r} is not a version: give its id or COMMUNITY@NUMBER") from None
        cur.execute(
            """SELECT v.*, c.code AS community_code FROM grid_versions v
                 JOIN communities c ON c.id = v.community_id WHERE v.id = %s""",
            (vid,),
        )
    row = cur.fetchone()
    if row is None:
        raise data.NotFound(f"grid version {ref} does not exist")
    return dict(row)


def write_restore(cur, principal: Principal, version: dict, *, note: str | None = None,
                  expected_current_id: int | None = None) -> CommitResult:
    """Write a new current version copying ``version``'s grids (codes and polygons kept).

    Buildings are assigned by their point on surface, cameras and open incidents relocated,
    workers follow, lineage and audit (``grids.restore``) written.
    """
    t0 = time.perf_counter()
    com = lock_community(cur, version["community_code"])
    cur_ver = com["current"]
    cur_id = int(cur_ver["id"]) if cur_ver else None
    if expected_current_id is not None and cur_id != expected_current_id:
        raise _conflict(version["community_code"], expected_current_id, None, cur_ver)
    if cur_id == int(version["id"]):
        raise GridAtlasError(
            f"version {version['version_no']} of community {version['community_code']} is "
            "already the current one: nothing to restore")
    cur.execute(
        """SELECT code, seq, kind, name, ST_AsBinary(geom) AS wkb FROM grids
            WHERE version_id = %s ORDER BY code""",
        (version["id"],),
    )
    rows = cur.fetchall()
    if not rows:
        raise GridAtlasError(f"version {version['id']} has no grids to restore")
    specs = [GridSpec(code=r["code"], seq=int(r["seq"]), kind=r["kind"], name=r["name"],
                      geometry=shapely.from_wkb(bytes(r["wkb"]))) for r in rows]
    base_codes: set[str] = set()
    if cur_id is not None:
        cur.execute("SELECT code FROM grids WHERE version_id = %s", (cur_id,))
        base_codes = {r["code"] for r in cur.fetchall()}
    note = note or f"restore of version {version['version_no']}"
    res = write_grid_version(
        cur, int(com["id"]), specs, assignment=None, source="derived",
        created_by=principal.username, note=note, relocate_points=False,
    )
    result = _after_write(
        cur, principal, "grids.restore", com, prev_id=cur_id, version_id=res.version_id,
        version_no=res.version_no, base_codes=base_codes,
        detail={"restored_version_id": int(version["id"]),
                "restored_version_no": int(version["version_no"]),
                "buildings_unassigned": res.buildings_unassigned, "note": note})
    result.seconds = round(time.perf_counter() - t0, 3)
    return result


def _after_write(cur, principal: Principal, action: str, com: dict, *, prev_id: int | None,
                 version_id: int, version_no: int, base_codes: set[str],
                 detail: dict, refresh_coarse: bool = True) -> CommitResult:
    """Lineage, relocation, workers, coverage, coarse copies and the audit entry."""
    from geo import coarse

    code = com["code"]
    cid = int(com["id"])
    cur.execute("SELECT id, code FROM grids WHERE version_id = %s ORDER BY code", (version_id,))
    new = [dict(r) for r in cur.fetchall()]
    old: list[dict] = []
    if prev_id is not None:
        cur.execute("SELECT id, code FROM grids WHERE version_id = %s ORDER BY code", (prev_id,))
        old = [dict(r) for r in cur.fetchall()]
    lineage = _lineage(cur, prev_id, version_id) if prev_id is not None else []
    relocated = move_points_to_version(cur, cid, version_id)
    workers = _workers(cur, prev_id, version_id) if prev_id is not None else []
    accounts = (_accounts(cur, principal, prev_id, version_id, code)
                if prev_id is not None else [])
    # grid leaders and party branches follow like workers (geo.networks.roles)
    roles = follow_redraw(cur, prev_id, version_id) if prev_id is not None else []
    check_coverage_now(cur, context=f"community {code}: ")
    cur.execute(
        """SELECT g.code FROM grids g
            WHERE g.version_id = %s
              AND NOT EXISTS (SELECT 1 FROM grid_workers w WHERE w.grid_id = g.id)
            ORDER BY g.code""",
        (version_id,),
    )
    vacant = [r["code"] for r in cur.fetchall()]
    if refresh_coarse:
        coarse.refresh(com["district_code"], cur, [code])
    codes = [g["code"] for g in new]
    result = CommitResult(
        version_id=version_id, version_no=version_no, community_code=code,
        parent_version_id=prev_id, codes=codes,
        kept_codes=sorted(set(codes) & base_codes), new_codes=sorted(set(codes) - base_codes),
        removed_codes=sorted(base_codes - set(codes)), lineage=lineage, workers=workers,
        vacant_grids=vacant, relocated=relocated, audit_id=0, accounts=accounts,
    )
    result.audit_id = audit.record(
        cur, principal, action, target=code, scope_code=code,
        before_ids=[{"id": g["id"], "code": g["code"]} for g in old],
        after_ids=[{"id": g["id"], "code": g["code"]} for g in new],
        detail={**detail, "version_id": version_id, "version_no": version_no,
                "parent_version_id": prev_id, "kept_codes": result.kept_codes,
                "new_codes": result.new_codes, "removed_codes": result.removed_codes,
                "workers": workers, "accounts": accounts, "vacant_grids": vacant,
                "relocated": relocated,
                "lineage": lineage, "grid_roles": roles},
    )
    log.info("%s: community %s version %s (no %s), %d grids", action, code, version_id,
             version_no, len(codes))
    return result


def _lineage(cur, prev_id: int, version_id: int) -> list[dict]:
    """Insert ``grid_lineage`` rows: households passing from each old grid to each new one.

    Old grids without buildings are linked to the new grids they overlap (0 households).
    """
    cur.execute(
        """WITH flow AS (
               SELECT o.grid_id AS old_id, n.grid_id AS new_id,
                      sum(b.households)::int AS hh
                 FROM building_grid o
                 JOIN building_grid n ON n.building_id = o.building_id AND n.version_id = %(v)s
                 JOIN buildings b ON b.id = o.building_id
                WHERE o.version_id = %(p)s
                GROUP BY 1, 2),
           spatial AS (
               SELECT o.id AS old_id, n.id AS new_id, 0 AS hh
                 FROM grids o JOIN grids n
                   ON n.version_id = %(v)s AND o.geom && n.geom
                  AND ST_Relate(o.geom, n.geom, '2********')
                WHERE o.version_id = %(p)s
                  AND NOT EXISTS (SELECT 1 FROM flow f WHERE f.old_id = o.id))
           INSERT INTO grid_lineage (old_grid_id, new_grid_id, version_id, households_moved)
           SELECT old_id, new_id, %(v)s, hh FROM (SELECT * FROM flow UNION ALL
                                                  SELECT * FROM spatial) t
           RETURNING old_grid_id, new_grid_id, households_moved""",
        {"p": prev_id, "v": version_id},
    )
    cur.fetchall()
    cur.execute(
        """SELECT o.code AS old, n.code AS new, l.households_moved
             FROM grid_lineage l
             JOIN grids o ON o.id = l.old_grid_id
             JOIN grids n ON n.id = l.new_grid_id
            WHERE l.version_id = %s ORDER BY o.code, n.code""",
        (version_id,),
    )
    return [dict(r) for r in cur.fetchall()]


def _workers(cur, prev_id: int, version_id: int) -> list[dict]:
    """Each worker of an old grid follows the new grid with the largest household overlap
    (``worker``, ``name``, ``from``, ``to``).

    Ties go to more shared buildings, then the lower code; a worker whose old grid shares
    nothing with any new grid is left without a grid (``grid_id`` NULL).
    """
    cur.execute(
        """WITH overlap AS (
               SELECT o.grid_id AS old_id, n.grid_id AS new_id,
                      sum(b.households) AS hh, count(*) AS nb
                 FROM building_grid o
                 JOIN building_grid n ON n.building_id = o.building_id AND n.version_id = %(v)s
                 JOIN buildings b ON b.id = o.building_id
                WHERE o.version_id = %(p)s
                GROUP BY 1, 2),
           best AS (
               SELECT DISTINCT ON (ov.old_id) ov.old_id, ov.new_id
                 FROM overlap ov JOIN grids g ON g.id = ov.new_id
                ORDER BY ov.old_id, ov.hh DESC, ov.nb DESC, g.code),
           moved AS (
               SELECT w.id, w.code AS worker, w.name, og.code AS old_code, best.new_id
                 FROM grid_workers w
                 JOIN grids og ON og.id = w.grid_id AND og.version_id = %(p)s
                 LEFT JOIN best ON best.old_id = w.grid_id)
           UPDATE grid_workers w SET grid_id = moved.new_id
             FROM moved WHERE moved.id = w.id
           RETURNING moved.worker, moved.name, moved.old_code, moved.new_id""",
        {"p": prev_id, "v": version_id},
    )
    rows = [dict(r) for r in cur.fetchall()]
    cur.execute("SELECT id, code FROM grids WHERE version_id = %s", (version_id,))
    code_of = {int(r["id"]): r["code"] for r in cur.fetchall()}
    return sorted(
        ({"worker": r["worker"], "name": r["name"], "from": r["old_code"],
          "to": code_of.get(r["new_id"]) if r["new_id"] is not None else None} for r in rows),
        key=lambda r: r["worker"],
    )


#: old grid id -> the new grid holding most of its households (then most buildings, then the
#: lower code); an old grid without buildings goes to the new grid covering most of its area
_SUCCESSOR_SQL = """
    WITH overlap AS (
        SELECT o.grid_id AS old_id, n.grid_id AS new_id,
               sum(b.households) AS hh, count(*) AS nb
          FROM building_grid o
          JOIN building_grid n ON n.building_id = o.building_id AND n.version_id = %(v)s
          JOIN buildings b ON b.id = o.building_id
         WHERE o.version_id = %(p)s
         GROUP BY 1, 2),
    best AS (
        SELECT DISTINCT ON (ov.old_id) ov.old_id, ov.new_id
          FROM overlap ov JOIN grids g ON g.id = ov.new_id
         ORDER BY ov.old_id, ov.hh DESC, ov.nb DESC, g.code),
    by_area AS (
        SELECT DISTINCT ON (o.id) o.id AS old_id, n.id AS new_id
          FROM grids o JOIN grids n ON n.version_id = %(v)s AND o.geom && n.geom
         WHERE o.version_id = %(p)s AND NOT EXISTS (SELECT 1 FROM best WHERE best.old_id = o.id)
         ORDER BY o.id, ST_Area(ST_Intersection(o.geom, n.geom)) DESC, n.code)
    SELECT og.code AS old_code, ng.code AS new_code
      FROM grids og
      JOIN (SELECT * FROM best UNION ALL SELECT * FROM by_area) s ON s.old_id = og.id
      JOIN grids ng ON ng.id = s.new_id
     ORDER BY og.code"""


def _accounts(cur, principal: Principal, prev_id: int, version_id: int,
              community_code: str) -> list[dict]:
    """Accounts scoped to a grid that left the version follow it to its successor.

    A grid code that is not in the new version hands every account scoped to it
    (``users.scope_code``, typically a grid worker's) to the new grid holding most of its
    households (:data:`_SUCCESSOR_SQL`), so the worker still sees their grid after a
    redraw. Each account moved gets its own audit entry (``users.scope_follow``) in this
    transaction; the commit's entry lists them too.

    Returns
    -------
    list of dict
        ``{"username", "role", "from", "to"}`` per account moved, by username.
    """
    cur.execute(_SUCCESSOR_SQL, {"p": prev_id, "v": version_id})
    succ = {r["old_code"]: r["new_code"] for r in cur.fetchall()}
    cur.execute("SELECT code FROM grids WHERE version_id = %s", (version_id,))
    now = {r["code"] for r in cur.fetchall()}
    moves = {old: new for old, new in succ.items() if old not in now}
    if not moves:
        return []
    cur.execute(
        """SELECT id, username, role, scope_code FROM users
            WHERE scope_code = ANY(%s) ORDER BY username FOR UPDATE""",
        (sorted(moves),),
    )
    rows = [dict(r) for r in cur.fetchall()]
    out = []
    for r in rows:
        new = moves[r["scope_code"]]
        cur.execute("UPDATE users SET scope_code = %s WHERE id = %s", (new, r["id"]))
        audit.record(
            cur, principal, "users.scope_follow", target=r["username"], scope_code=new,
            before_ids=[{"scope_code": r["scope_code"]}], after_ids=[{"scope_code": new}],
            detail={"username": r["username"], "role": r["role"], "from": r["scope_code"],
                    "to": new, "community": community_code, "version_id": version_id,
                    "reason": "grid redrawn: the account follows the grid holding most of "
                              "its households"},
        )
        out.append({"username": r["username"], "role": r["role"], "from": r["scope_code"],
                    "to": new})
    if out:
        log.info("community %s: %d account(s) followed their grid", community_code, len(out))
    return out


def preview_staff(principal: Principal, prop: Proposal) -> dict[str, Any]:
    """Where the grid workers and grid-scoped accounts would go if ``prop`` were committed.

    The same rule as the commit: each current grid's worker (and account) follows the
    proposed grid holding most of the grid's households. Read-only; ``view.plan`` on the
    plan's community.

    Returns
    -------
    dict
        ``workers`` (``{"worker", "name", "from", "to", "moved"}``: ``moved`` when the code
        changes), ``accounts`` (``{"username", "role", "from", "to"}`` for accounts whose
        scope would change) and ``vacant_grids`` (proposed grids no worker would follow).
    """
    from geo import db
    from geo.access import permissions

    permissions.check(principal, "view.plan", prop.community_code)
    flow = codes_mod.flows(prop.base_labels, prop.labels, prop.households)
    best: dict[str, tuple] = {}
    for (old, new), (hh, nb) in flow.items():
        key = (-hh, -nb, new)
        if old not in best or key < best[old][0]:
            best[old] = (key, new)
    succ = {old: v[1] for old, v in best.items()}
    base_codes = sorted(succ)
    with db.transaction(readonly=True) as cur:
        cur.execute(
            """SELECT w.code AS worker, w.name, g.code AS grid FROM grid_workers w
                 JOIN grids g ON g.id = w.grid_id
                WHERE g.version_id = %s ORDER BY w.code""",
            (prop.base_version_id if prop.base_version_id is not None else -1,),
        )
        workers = [dict(r) for r in cur.fetchall()]
        cur.execute("SELECT username, role, scope_code FROM users WHERE scope_code = ANY(%s) "
                    "ORDER BY username", (base_codes,))
        users = [dict(r) for r in cur.fetchall()]
    new_codes = set(prop.labels.values())
    out_w = [{"worker": w["worker"], "name": w["name"], "from": w["grid"],
              "to": succ.get(w["grid"]), "moved": succ.get(w["grid"]) != w["grid"]}
             for w in workers]
    out_a = [{"username": u["username"], "role": u["role"], "from": u["scope_code"],
              "to": succ.get(u["scope_code"])}
             for u in users if u["scope_code"] not in new_codes]
    staffed = {w["to"] for w in out_w if w["to"] is not None}
    return {"workers": out_w, "accounts": out_a,
            "vacant_grids": sorted(new_codes - staffed)}
