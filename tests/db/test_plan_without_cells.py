"""A community whose building cells were never computed is refused with the command that
makes them, instead of a plan with every building a grid alone."""

from __future__ import annotations

import pytest
from psycopg2.extras import RealDictCursor

from geo.errors import GridAtlasError
from geo.planning import data

COMMUNITY = "990100003001"


def test_a_community_without_cells_is_refused_with_the_command(demo_db):
    conn = demo_db.connect(admin=True)
    try:
        with conn.cursor(cursor_factory=RealDictCursor) as cur:
            assert len(data.load_community(cur, COMMUNITY).grids) > 0  # with its cells: fine
            cur.execute("""DELETE FROM building_cells WHERE community_id =
                             (SELECT id FROM communities WHERE code = %s)""", (COMMUNITY,))
            with pytest.raises(GridAtlasError) as info:
                data.load_community(cur, COMMUNITY)
            assert "cells rebuild --community " + COMMUNITY in info.value.user_msg
    finally:
        conn.rollback()  # the shared demo database keeps its cells
        conn.close()
