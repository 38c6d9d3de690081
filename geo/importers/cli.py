"""``python -m geo import KIND FILE``: the importer's command line."""

from __future__ import annotations

import argparse
import json

from geo.importers import KIND_NAMES


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``import`` command."""
    p = subparsers.add_parser(
        "import",
        help="import a file (GeoPackage, GeoJSON, Shapefile, CSV, XLSX) in one transaction",
        description="Import features of KIND from FILE. Canonical fields per KIND are "
        "listed in docs/IMPORT.md. A refused import writes nothing.",
    )
    p.add_argument("kind", metavar="KIND", choices=KIND_NAMES, help=", ".join(KIND_NAMES))
    p.add_argument("file", metavar="FILE")
    p.add_argument("--layer", help="layer of a GeoPackage (or sheet of a workbook)")
    p.add_argument("--field", action="append", default=[], metavar="CANONICAL=COLUMN",
                   help="map a file column onto a canonical field (repeatable)")
    p.add_argument("--crs", help="CRS of the coordinates, e.g. EPSG:4549 (overrides the file)")
    p.add_argument("--encoding", help="text encoding of a shapefile without .cpg, e.g. gbk")
    p.add_argument("--actor", help="name recorded in the audit log (default: the OS user)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=_cmd_import)


def _cmd_import(args: argparse.Namespace) -> int:
    from geo.importers import import_file

    report = import_file(
        args.kind, args.file, layer=args.layer, fields=args.field, crs=args.crs,
        encoding=args.encoding, actor=args.actor,
    )
    if args.json:
        print(json.dumps({"kind": report.kind, "file": report.file, "counts": report.counts,
                          "repaired": report.repaired, "notes": report.notes},
                         ensure_ascii=False, sort_keys=True))
        return 0
    for note in report.notes:
        print(f"note: {note}")
    for line in report.repaired:
        print(f"repaired: {line}")
    print(f"imported {report.kind} from {report.file}: "
          + ", ".join(f"{k} {v}" for k, v in report.counts.items()))
    return 0
