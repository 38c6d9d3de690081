"""Small shared building blocks for pages (pure UI)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from dash import html

from layouts.i18n import t


def data_table(
    rows: Sequence[dict],
    columns: Sequence[tuple[str, str | Callable[[dict], object]]],
    table_id: str | None = None,
    row_class: Callable[[dict], str] | None = None,
) -> html.Table | html.P:
    """A plain, printable HTML table.

    ``columns`` pairs an i18n header key with a row key or a function of the row.
    """
    if not rows:
        return html.P(t("table.empty"), className="ga-empty")
    head = html.Thead(html.Tr([html.Th(t(key)) for key, _ in columns]))
    body = []
    for row in rows:
        cells = [html.Td(getter(row) if callable(getter) else row.get(getter)) for _, getter in columns]
        body.append(html.Tr(cells, className=row_class(row) if row_class else None))
    return html.Table([head, html.Tbody(body)], id=table_id, className="ga-table")


def page_header(title_key: str, intro_key: str) -> html.Div:
    """Title and one-line introduction of a page."""
    return html.Div(
        [html.H1(t(title_key)), html.P(t(intro_key), className="ga-intro")],
        className="ga-page-header",
    )
