"""``python -m geo cells rebuild``: recompute the stored building cells."""

from __future__ import annotations

import argparse
import json
import time


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``cells`` command with its ``rebuild`` action."""
    p = subparsers.add_parser("cells", help="stored building cells (one per building)")
    sub = p.add_subparsers(dest="cells_action", required=True, metavar="ACTION")

    rebuild = sub.add_parser(
        "rebuild",
        help="recompute and store the building cells of communities (default: all)",
        description="Recompute the building cells of the given communities (default: every "
        "community) and replace the stored ones, in one transaction.",
    )
    rebuild.add_argument("--community", action="extend", nargs="+", default=[],
                         metavar="CODE", help="community code (repeatable)")
    rebuild.add_argument("--district", metavar="CODE",
                         help="every community of this district")
    rebuild.add_argument("--actor", help="name recorded in the audit log (default: the OS user)")
    rebuild.add_argument("--json", action="store_true", help="print the report as JSON")
    rebuild.set_defaults(handler=_cmd_rebuild)


def _cmd_rebuild(args: argparse.Namespace) -> int:
    import psycopg2

    from geo import db
    from geo.errors import GridAtlasError
    from geo.importers import default_actor
    from geo.repository.cells import community_ids_for, store_cells
    from geo.repository.writers import audit

    t0 = time.perf_counter()
    try:
        with db.transaction() as cur:
            ids = community_ids_for(cur, community_codes=args.community,
                                    district_code=args.district)
            done = store_cells(cur, ids)
            rows = [c.as_dict() for c in done.values()]
            audit(
                cur, actor=args.actor or default_actor(), action="cells_rebuild",
                target="building_cells",
                detail={"communities": len(rows), "cells": sum(r["cells"] for r in rows),
                        "codes": [r["code"] for r in rows][:200]},
            )
    except psycopg2.Error as exc:
        primary = getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc)
        raise GridAtlasError(
            f"the cells rebuild was refused by the database: {primary.strip()}"
        ) from exc
    seconds = round(time.perf_counter() - t0, 2)
    total = {"communities": len(rows), "buildings": sum(r["buildings"] for r in rows),
             "cells": sum(r["cells"] for r in rows), "seconds": seconds}
    if args.json:
        print(json.dumps({"communities": rows, "total": total}, ensure_ascii=False,
                         sort_keys=True))
        return 0
    print(f"{'community':<14}{'buildings':>10}{'cells':>8}{'seconds':>9}")
    for r in rows:
        print(f"{r['code']:<14}{r['buildings']:>10,}{r['cells']:>8,}{r['seconds']:>9.2f}")
    print(f"total: {total['communities']} communities, {total['buildings']:,} buildings, "
          f"{total['cells']:,} cells in {seconds:.2f} s (one transaction, committed)")
    return 0
