"""A street's proposals committed at once (``geo.planning.street.commit_street``) on the demo
district: every community passing the gate gets a new version in one transaction, grid
workers follow their grids; communities refused by the gate, committed meanwhile, or with
no proposal are listed and left as they are; a street outside the scope, a proposal of
another street or a failure while writing leaves everything as it was."""

from __future__ import annotations

import pytest

from geo.access.permissions import PermissionDenied
from geo.access.roles import Principal
from geo.errors import GridAtlasError
from geo.planning import api, street, versions

STREET = "990100004"
PLANNER = Principal("street_planner", "planner", "990100")


def _current(demo_db) -> dict[str, int]:
    with demo_db.connect() as conn, conn.cursor() as cur:
        cur.execute("""SELECT c.code, v.id FROM grid_versions v JOIN communities c ON c.id = v.community_id
                        WHERE v.is_current AND left(c.code, 9) = %s""", (STREET,))
        out = dict(cur.fetchall())
    conn.close()
    return out


def _proposals(codes) -> list:
    return [api.propose(PLANNER, c, mode="fresh", seed=0) for c in codes]


@pytest.fixture(scope="module")
def codes(demo_db):
    return demo_db.scalar("SELECT array_agg(code ORDER BY code) FROM communities WHERE left(code, 9) = %s",
                          (STREET,))


def test_out_of_scope_and_foreign_proposals_write_nothing(demo_db, codes):
    props = _proposals(codes[:1])
    before = _current(demo_db)
    with pytest.raises(PermissionDenied):
        street.commit_street(Principal("s5", "planner", "990100005"), STREET, props)
    with pytest.raises(PermissionDenied):  # a reader may not commit
        street.commit_street(Principal("lead", "leader", "990100"), STREET, props)
    with pytest.raises(GridAtlasError):  # a proposal of another street
        street.commit_street(PLANNER, "990100005", props)
    with pytest.raises(GridAtlasError):  # two proposals for one community
        street.commit_street(PLANNER, STREET, props + props)
    for bad in (None, "", "9901000", "99010000x", ["990100004"]):
        with pytest.raises(GridAtlasError):
            street.commit_street(PLANNER, bad, props)
    assert _current(demo_db) == before


def test_a_failure_while_writing_writes_nothing(demo_db, codes, monkeypatch):
    props = _proposals(codes)
    before = _current(demo_db)

    def boom(cur):
        raise GridAtlasError("simulated failure before COMMIT")

    monkeypatch.setattr(versions, "before_commit", boom)
    with pytest.raises(GridAtlasError, match="simulated"):
        street.commit_street(PLANNER, STREET, props, allow_out_of_band=True)
    assert _current(demo_db) == before


def test_the_street_is_committed_and_refused_communities_are_left(demo_db, codes):
    props = _proposals(codes)
    gate = {p.community_code for p in props if p.blocking()}
    assert gate and len(gate) < len(codes), "the demo street should have both kinds"
    # one community committed on its own meanwhile (its review's commit): a conflict
    first_ok = next(p for p in props if p.community_code not in gate)
    alone = api.commit(PLANNER, first_ok)
    missing = codes[-1] if codes[-1] not in gate | {first_ok.community_code} else None
    sent = [p for p in props if p.community_code != missing]
    before = _current(demo_db)
    with demo_db.connect() as conn, conn.cursor() as cur:
        cur.execute("""SELECT count(*) FROM grid_workers w JOIN grids g ON g.id = w.grid_id
                        WHERE g.version_id = ANY(%s)""", (list(before.values()),))
        workers_before = cur.fetchone()[0]
    conn.close()
    res = street.commit_street(PLANNER, STREET, sent, note="整街道提交")
    refused = {r.community: r for r in res.refused}
    assert {c for c, r in refused.items() if r.reason == "gate"} == gate
    assert all(refused[c].rules == ["band"] for c in gate)
    assert refused[first_ok.community_code].reason == "conflict"
    if missing:
        assert refused[missing].reason == "missing"
    done = {c.community_code for c in res.committed}
    assert done == set(codes) - set(refused) and done
    after = _current(demo_db)
    for code in codes:  # new versions exactly where committed, the rest untouched
        assert (after[code] != before[code]) == (code in done), code
    assert after[first_ok.community_code] == alone.version_id
    with demo_db.connect() as conn, conn.cursor() as cur:
        cur.execute("""SELECT c.code, v.note, v.created_by FROM grid_versions v
                         JOIN communities c ON c.id = v.community_id WHERE v.id = ANY(%s)""",
                    ([after[c] for c in done],))
        assert {r[0]: r[1:] for r in cur.fetchall()} == {c: ("整街道提交", PLANNER.username) for c in done}
        # the grid workers followed their grids: as many workers on current grids as before
        cur.execute("""SELECT count(*) FROM grid_workers w JOIN grids g ON g.id = w.grid_id
                        WHERE g.version_id = ANY(%s)""", (list(after.values()),))
        assert cur.fetchone()[0] == workers_before
        cur.execute("""SELECT count(*) FROM audit_log WHERE action = 'grids.commit' AND target = ANY(%s)
                          AND detail->>'note' = '整街道提交'""", (sorted(done),))
        assert cur.fetchone()[0] == len(done)
    conn.close()
    # the same proposals again: every one is now a conflict (or gate/missing), nothing written
    again = street.commit_street(PLANNER, STREET, sent)
    assert again.committed == [] and _current(demo_db) == after
