"""The Open311 GeoReport v2 endpoint at ``/open311/v2/`` (JSON only): a thin Flask edge.

Every route is registered as ``open`` in :data:`layouts.auth.ROUTES`: the GETs need no
key, and the POST checks its ``api_key`` itself (:func:`geo.incidents.open311.create_request`);
no session cookie is read, so a browser's session gives no rights here. Errors answer
the spec's body ``[{"code": ..., "description": ...}]``: 400, 401, 403, 404, 422, and 503
with ``Retry-After`` (spread, :func:`layouts.errors.retry_after`) when the database is
unavailable.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, request

from geo.errors import DatabaseUnavailable, GridAtlasError
from geo.incidents import open311
from layouts.errors import retry_after

log = logging.getLogger(__name__)

PREFIX = "/open311/v2"
blueprint = Blueprint("open311", __name__, url_prefix=PREFIX)


def _json(body, status: int = 200, **headers: str) -> Response:
    resp = Response(json.dumps(body, ensure_ascii=False), status=status,
                    mimetype="application/json")
    resp.headers["Cache-Control"] = "no-store"
    resp.headers.update(headers)
    return resp


@blueprint.errorhandler(open311.Open311Error)
def _refused(exc: open311.Open311Error) -> Response:
    return _json(exc.body(), exc.status)


@blueprint.errorhandler(DatabaseUnavailable)
def _unavailable(exc: DatabaseUnavailable) -> Response:
    return _json([{"code": 503, "description": exc.user_msg}], 503, **{"Retry-After": retry_after()})


@blueprint.errorhandler(GridAtlasError)
def _domain(exc: GridAtlasError) -> Response:
    return _json([{"code": 400, "description": exc.user_msg}], 400)


@blueprint.get("/discovery.json")
def discovery() -> Response:
    return _json(open311.discovery(request.host_url.rstrip("/") + PREFIX + "/"))


@blueprint.get("/services.json")
def services() -> Response:
    return _json(open311.services())


@blueprint.route("/requests.json", methods=["GET", "POST"])
def requests_() -> Response:
    if request.method == "GET":
        return _json(open311.list_requests(request.args.to_dict()))
    answer, created = open311.create_request(
        request.form.to_dict(), idempotency_key=request.headers.get("Idempotency-Key"))
    if created:
        return _json(answer, 201)
    return _json(answer, 200, **{"Idempotent-Replayed": "true"})


@blueprint.get("/requests/<service_request_id>.json")
def one_request(service_request_id: str) -> Response:
    return _json(open311.get_request(service_request_id))


def install(server) -> None:
    """Register the blueprint on the Flask server (once, from app.py)."""
    server.register_blueprint(blueprint)
