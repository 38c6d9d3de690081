"""The patrol-coverage table on /review lists at most MAX_ROWS grids, least covered first,
and its summary counts every grid and says the table is cut (a city has thousands)."""

from __future__ import annotations

from html.parser import HTMLParser

from layouts import review_patrols as rp


def _rows(n: int) -> list[dict]:
    return [{"grid": f"990100001001{i:03d}", "buildings": 10, "covered": i % 10,
             "share": (i % 10) / 10} for i in range(n)]


class _Rows(HTMLParser):
    """The body rows of the table's markup, each a list of its cells' texts."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_body = self._in_cell = False

    def handle_starttag(self, tag, attrs):
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag == "td" and self._in_body:
            self._in_cell = True
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        if tag == "td":
            self._in_cell = False
        elif tag == "tbody":
            self._in_body = False

    def handle_data(self, data):
        if self._in_cell:
            self.rows[-1][-1] += data


def _body(table) -> list[list[str]]:
    parser = _Rows()
    parser.feed(table.children)  # one component holding the table as escaped markup
    return parser.rows


def test_a_small_area_lists_every_grid_and_says_nothing_of_a_cut():
    rows = _rows(12)
    assert len(_body(rp.table(rows))) == 12
    assert "100" not in rp.summary(rows, "zh-CN").split("；")[-1]


def test_a_large_area_lists_the_least_covered_grids_and_counts_them_all():
    rows = _rows(3 * rp.MAX_ROWS)
    body = _body(rp.table(rows))
    assert len(body) == rp.MAX_ROWS
    least = [r["grid"] for r in sorted(rows, key=lambda r: (r["share"], r["grid"]))][:rp.MAX_ROWS]
    assert [tr[0] for tr in body] == least
    assert {tr[2] for tr in body} == {"0", "1", "2", "3"}  # shares 0-0.3 only
    text = rp.summary(rows, "zh-CN")
    assert text.startswith(f"{3 * rp.MAX_ROWS} 个网格") and f"覆盖率最低的 {rp.MAX_ROWS} 个网格" in text
    assert f"{rp.MAX_ROWS} least covered" in rp.summary(rows, "en")
