"""Files of the incident screens: the filtered list as XLSX or CSV, and case photos.

Both routes are registered in :data:`layouts.auth.ROUTES` with ``view.incidents`` (the gate
checks it first); the reads are principal-first (:mod:`geo.incidents.export`,
:func:`geo.incidents.service.photo`), so a case outside the scope is a 404 and a bad filter
a 400 with the reason, never a 500.
"""

from __future__ import annotations

import flask

from geo.errors import GridAtlasError
from geo.incidents import export, service
from layouts.auth import current_principal
from layouts.i18n import current_lang
from layouts.incidents_text import user_text

EXPORT_RULES = ("/incidents/export.xlsx", "/incidents/export.csv")
PHOTO_RULE = "/incidents/photo/<int:photo_id>"


def _status(exc: GridAtlasError) -> int:
    if isinstance(exc, service.NotFound):
        return 404
    if isinstance(exc, service.Denied):
        return 403
    return 400


def _refuse(exc: GridAtlasError):
    resp = flask.make_response(user_text(exc, current_lang()), _status(exc))
    resp.headers["Content-Type"] = "text/plain; charset=utf-8"
    return resp


def _export():
    fmt = flask.request.path.rsplit(".", 1)[-1]
    try:
        actor = service.actor_for(current_principal())
        flt = export.filter_from_query(flask.request.args.to_dict())
        data, mimetype, name = export.export(actor, flt, fmt, current_lang())
    except GridAtlasError as exc:
        return _refuse(exc)
    resp = flask.make_response(data)
    resp.headers["Content-Type"] = mimetype
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _photo(photo_id: int):
    try:
        kind, data = service.photo(service.actor_for(current_principal()), photo_id)
    except GridAtlasError as exc:
        return _refuse(exc)
    resp = flask.make_response(data)
    resp.headers["Content-Type"] = kind
    resp.headers["Cache-Control"] = "private, max-age=3600"
    return resp


def register(server: flask.Flask) -> None:
    """Add the export and photo routes to the Flask server."""
    for rule in EXPORT_RULES:
        server.add_url_rule(rule, "incidents_" + rule.rsplit(".", 1)[-1], _export, methods=["GET"])
    server.add_url_rule(PHOTO_RULE, "incidents_photo", _photo, methods=["GET"])
