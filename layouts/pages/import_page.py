"""Data import (/import): upload a file, preview its checks, import it as a background job.

Administrators and operators (``data.import``) upload a file of one kind (the command
line's KINDs); it is kept in the database for its owner (``geo.importers.uploads``), checked
by a dry run (rows, CRS, fields, the first problem) and imported by the background job in
``layouts.import_job`` in one transaction, places checked against the user's scope in
``geo``. The layout touches no database.
"""

from __future__ import annotations

import base64
import binascii
import logging

import dash
from dash import Input, Output, State, dcc, html

import geo.importers.readers  # noqa: F401  (loaded before any fork of a background job)
import geo.importers.writers  # noqa: F401
from geo.errors import GridAtlasError
from geo.importers import uploads
from layouts import import_ids as ids
from layouts import (
    import_job,  # noqa: F401  (the background import and its Cancel)
    plan_store,
    strings_import,  # noqa: F401  (registers the strings)
)
from layouts.auth import current_principal, secret_key
from layouts.components import page_header
from layouts.i18n import current_lang, t
from layouts.import_job import field_lines
from layouts.import_text import say
from layouts.import_view import file_info, form, kind_options, preview_view
from layouts.secure import secure_callback

log = logging.getLogger(__name__)

dash.register_page(__name__, path="/import", title="GridAtlas · 数据导入", name="import")


def layout(**_query: str) -> html.Div:
    lang = current_lang()
    return html.Div(className="ga-page ga-import", children=[
        dcc.Store(id=ids.BOOT, data={"lang": lang}),
        dcc.Store(id=ids.TOKEN),
        dcc.Store(id=ids.UPLOAD),
        page_header("import.title", "import.intro"),
        html.Div(className="ga-import-grid", children=[
            html.Section(className="ga-import-card", children=[
                form(lang),
                html.Div(id=ids.FILE_INFO),
                html.Div(id=ids.STATUS, className="ga-status", role="status"),
            ]),
            html.Section(className="ga-import-card", children=[
                html.Div(id=ids.PREVIEW),
                html.Div(className="ga-buttons", children=[
                    html.Button(t("import.run", lang), id=ids.RUN, className="ga-btn ga-btn-primary",
                                disabled=True),
                    html.Button(t("import.cancel", lang), id=ids.CANCEL, className="ga-btn", disabled=True),
                ]),
                html.Progress(id=ids.PROGRESS, value="0", max="5", className="ga-progress"),
                html.Div(id=ids.PROGRESS_TEXT, className="ga-hint"),
                html.Div(id=ids.RESULT),
            ]),
        ]),
    ])


@secure_callback(
    "data.import",
    Output(ids.TOKEN, "data"),
    Output(ids.KIND, "options"),
    Input(ids.BOOT, "data"),
)
def start(boot):
    """The signed user the import job acts as; the kinds this user may import."""
    principal = current_principal()
    lang = current_lang()
    return plan_store.sign(principal, secret_key()), kind_options(lang, principal.scope_code is not None)


def _decode(contents) -> bytes:
    """A ``data:...;base64,`` URL from the upload box as bytes, refused above the limit
    before it is decoded."""
    if not isinstance(contents, str) or ";base64," not in contents[:200]:
        raise GridAtlasError("上传内容无效 / the upload is not a file")
    encoded = contents.split(";base64,", 1)[1]
    limit = uploads.max_upload_bytes()
    if len(encoded) * 3 // 4 > limit + 3:
        raise GridAtlasError(f"文件过大（上限 {limit // 1048576} MB）/ the file is too large "
                             f"(at most {limit // 1048576} MB, IMPORT_MAX_MB)")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise GridAtlasError("上传内容无效 / the upload is not valid base64") from None


@secure_callback(
    "data.import",
    Output(ids.UPLOAD, "data"),
    Output(ids.FILE_INFO, "children"),
    Output(ids.STATUS, "children", allow_duplicate=True),
    Output(ids.RESULT, "children", allow_duplicate=True),
    Input(ids.FILE, "contents"),
    State(ids.FILE, "filename"),
    State(ids.KIND, "value"),
    State(ids.UPLOAD, "data"),
    prevent_initial_call=True,
)
def uploaded(contents, filename, kind, previous):
    """Keep the chosen file in the database for this user (the previous one is removed)."""
    lang = current_lang()
    principal = current_principal()
    try:
        if previous:
            uploads.discard(principal, previous)
        up = uploads.store(principal, kind, filename, _decode(contents))
    except GridAtlasError as exc:
        return None, None, html.Span(say(exc.user_msg, lang), className="ga-bad", role="alert"), None
    return up.id, file_info(up.file_name, up.size_bytes, lang), None, None


@secure_callback(
    "data.import",
    Output(ids.PREVIEW, "children"),
    Output(ids.RUN, "disabled", allow_duplicate=True),
    Output(ids.FILE_INFO, "children", allow_duplicate=True),
    Input(ids.UPLOAD, "data"),
    Input(ids.KIND, "value"),
    Input(ids.FIELDS, "n_blur"),  # the mappings are read when the box is left
    Input(ids.ENCODING, "value"),
    Input(ids.CRS, "value"),
    State(ids.FIELDS, "value"),
    prevent_initial_call=True,
)
def preview(upload, kind, _blur, encoding, crs, fields):
    """A dry run of the file as the chosen kind; Import only when it found no problem."""
    lang = current_lang()
    if not upload:
        return None, True, None
    try:
        p = uploads.preview(current_principal(), upload, kind, fields=field_lines(fields),
                            encoding=encoding, crs=crs)
    except GridAtlasError as exc:
        return html.Div(say(exc.user_msg, lang), className="ga-bad", role="alert"), True, dash.no_update
    return preview_view(p, lang), p.problem is not None, dash.no_update
