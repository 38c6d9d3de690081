"""``python -m geo networks import|list|crosswalk|alignment`` and ``python -m geo grids roles``.

Registered by :mod:`geo.cli`; heavy imports happen in handlers. The command line acts as
``cli:<os user>`` with the admin role (as the planning commands do), or ``--actor`` for the
name recorded in the audit log.
"""

from __future__ import annotations

import argparse
import json


def _principal(actor: str | None = None):
    from geo.access.roles import Principal
    from geo.planning.cli import cli_principal

    p = cli_principal()
    return Principal(actor, p.role, None) if actor else p


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``networks`` and the ``roles`` action of ``grids`` (creating ``grids`` if absent)."""
    n = subparsers.add_parser(
        "networks", help="department networks (城管, 综治, 公安, 党建 ...): import, crosswalk",
        description="Other departments' old grid layers kept as named networks, with a "
        "crosswalk to the unified grids. See docs/ARCHITECTURE.md (Department networks).")
    nsub = n.add_subparsers(dest="networks_command", required=True, metavar="ACTION")
    i = nsub.add_parser("import", help="import a grid layer as network NAME (one transaction)")
    i.add_argument("name", metavar="NAME")
    i.add_argument("file", metavar="FILE")
    i.add_argument("--layer", help="layer of a GeoPackage (or sheet of a workbook)")
    i.add_argument("--field", action="append", default=[], metavar="CANONICAL=COLUMN",
                   help="code=COLUMN, name=COLUMN (repeatable)")
    i.add_argument("--crs", help="CRS of the coordinates, e.g. EPSG:4549 (overrides the file)")
    i.add_argument("--encoding", help="text encoding of a shapefile without .cpg, e.g. gbk")
    i.add_argument("--replace", action="store_true", help="replace a network of that name")
    i.add_argument("--actor", help="name recorded in the audit log (default: cli:<os user>)")
    i.add_argument("--json", action="store_true", help="print the report as JSON")
    i.set_defaults(handler=_cmd_import)
    ls = nsub.add_parser("list", help="the networks as JSON (name, count, imported_at)")
    ls.set_defaults(handler=_cmd_list)
    c = nsub.add_parser("crosswalk", help="old grid -> unified grids, as CSV (UTF-8 with BOM)")
    c.add_argument("name", metavar="NAME")
    c.add_argument("--version", default="current",
                   help="current (default), or one community's version: id or COMMUNITY@N")
    c.add_argument("--community", help="only the old grids holding this community's buildings")
    c.add_argument("--out", required=True, metavar="FILE.csv")
    c.set_defaults(handler=_cmd_crosswalk)
    a = nsub.add_parser("alignment", help="per community, households whose old grid lies in "
                        "one unified grid; the old grids cutting across most (JSON)")
    a.add_argument("name", metavar="NAME")
    a.add_argument("--community", help="one 12-digit community")
    a.add_argument("--version", default="current")
    a.add_argument("--worst", type=int, default=10)
    a.set_defaults(handler=_cmd_alignment)

    grids = subparsers.choices.get("grids")
    if grids is None:
        grids = subparsers.add_parser("grids", help="grids")
        gsub = grids.add_subparsers(dest="grids_command", required=True, metavar="ACTION")
    else:
        gsub = next(a for a in grids._actions if isinstance(a, argparse._SubParsersAction))
    r = gsub.add_parser("roles", help="grid leaders (网格长) and party branches (党支部/党小组)")
    rsub = r.add_subparsers(dest="roles_command", required=True, metavar="ACTION")
    rl = rsub.add_parser("list", help="holders on current grids (JSON)")
    rl.add_argument("--place", help="district, street, community or grid code")
    rl.add_argument("--unplaced", action="store_true", help="rows a redraw left without a grid")
    rl.set_defaults(handler=_cmd_roles_list)
    rs = rsub.add_parser("set", help="set a grid's leader or party organisation")
    rs.add_argument("grid", metavar="GRID")
    rs.add_argument("role", metavar="ROLE", help="网格长/leader, 党支部/party_branch, "
                    "党小组/party_group")
    rs.add_argument("name", metavar="NAME")
    rs.add_argument("--phone")
    rs.add_argument("--actor")
    rs.set_defaults(handler=_cmd_roles_set)
    rc = rsub.add_parser("clear", help="remove a grid's leader or party organisation")
    rc.add_argument("grid", metavar="GRID")
    rc.add_argument("role", metavar="ROLE")
    rc.add_argument("--actor")
    rc.set_defaults(handler=_cmd_roles_clear)
    ri = rsub.add_parser("import", help="import holders from a table (grid_code, role, name, "
                         "phone), one transaction")
    ri.add_argument("file", metavar="FILE")
    ri.add_argument("--layer")
    ri.add_argument("--field", action="append", default=[], metavar="CANONICAL=COLUMN")
    ri.add_argument("--encoding")
    ri.add_argument("--actor")
    ri.set_defaults(handler=_cmd_roles_import)


def _dump(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False, sort_keys=True, default=str))


def _cmd_import(args: argparse.Namespace) -> int:
    from geo.networks.store import import_network

    rep = import_network(_principal(args.actor), args.name, args.file, layer=args.layer,
                         fields=args.field, crs=args.crs, encoding=args.encoding,
                         replace=args.replace)
    if args.json:
        _dump(rep.as_dict())
        return 0
    for note in rep.notes:
        print(f"note: {note}")
    for line in rep.repaired:
        print(f"repaired: {line}")
    print(f"imported network {rep.name} from {rep.file}: {rep.grids} grids"
          + (" (replaced the previous one)" if rep.replaced else ""))
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from geo.networks.store import list_networks

    _dump(list_networks(_principal()))
    return 0


def _cmd_crosswalk(args: argparse.Namespace) -> int:
    from geo.networks.crosswalk import crosswalk_rows, write_crosswalk_csv

    rows = crosswalk_rows(_principal(), args.name, version=args.version,
                          community_code=args.community)
    n = write_crosswalk_csv(rows, args.out)
    olds = len({r["network_code"] for r in rows})
    print(f"wrote {n} rows ({olds} old grids of network {args.name}) to {args.out}")
    return 0


def _cmd_alignment(args: argparse.Namespace) -> int:
    from geo.networks.crosswalk import alignment

    _dump(alignment(_principal(), args.name, community_code=args.community,
                    version=args.version, worst=args.worst).as_dict())
    return 0


def _cmd_roles_list(args: argparse.Namespace) -> int:
    from geo.networks.roles import list_roles

    _dump(list_roles(_principal(), place_code=args.place, unplaced=args.unplaced))
    return 0


def _cmd_roles_set(args: argparse.Namespace) -> int:
    from geo.networks.roles import set_role

    _dump(set_role(_principal(args.actor), args.grid, args.role, args.name, phone=args.phone))
    return 0


def _cmd_roles_clear(args: argparse.Namespace) -> int:
    from geo.networks.roles import clear_role

    done = clear_role(_principal(args.actor), args.grid, args.role)
    print("cleared" if done else "nothing to clear")
    return 0


def _cmd_roles_import(args: argparse.Namespace) -> int:
    from geo.networks.roles import import_roles

    _dump(import_roles(_principal(args.actor), args.file, layer=args.layer, fields=args.field,
                       encoding=args.encoding))
    return 0
