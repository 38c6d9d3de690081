"""Tables as files: CSV (UTF-8 with a BOM, so Excel reads the Chinese) and XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence


def table_file(heads: Sequence[str], rows: Sequence[Sequence], fmt: str, stem: str) -> tuple[bytes, str]:
    """``(content, file name)`` of a table as ``csv`` or ``xlsx``."""
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(heads)
        w.writerows(["" if v is None else v for v in r] for r in rows)
        return ("\ufeff" + buf.getvalue()).encode("utf-8"), f"{stem}.csv"
    if fmt == "xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.title = stem[:31]
        ws.append(list(heads))
        for r in rows:
            ws.append(list(r))
        out = io.BytesIO()
        wb.save(out)
        return out.getvalue(), f"{stem}.xlsx"
    raise ValueError(f"unknown table format {fmt!r}")
