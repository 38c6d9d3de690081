"""GridAtlas web app: builds the Dash app from the pages in ``layouts/pages``.

Importing this module connects to nothing; ``python app.py`` starts the embedded
PostGIS when no ``DATABASE_URL`` is set, then serves on HOST:PORT.
``python app.py`` is the single-process development server; ``make run`` serves the same
app with gunicorn (``gunicorn -c gunicorn.conf.py app:server``: WORKERS processes of
THREADS threads, see geo/serve.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

import dash

from geo.settings import get_settings
from layouts import account, auth, errors, incidents_files, jobs, open311, shell

HERE = Path(__file__).resolve().parent
# Long jobs (a rebalance) run as background callbacks: in processes of this machine (a disk
# cache folder, opened lazily), or with REDIS_URL on Celery workers (`python -m geo worker`,
# which imports this module: `celery_app`). Importing this module touches no database or network.
_jobs = jobs.manager(HERE / ".cache" / "jobs")
celery_app = jobs.celery_app(_jobs)

app = dash.Dash(
    __name__,
    use_pages=True,
    pages_folder=str(HERE / "layouts" / "pages"),
    assets_folder=str(HERE / "assets"),
    compress=True,
    background_callback_manager=_jobs,
    title="GridAtlas",
    update_title=None,
    meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
)
app.layout = shell.layout
auth.install(app)
server = app.server
account.register(server)  # /account/password (guarded by auth.ROUTES, as every route)
incidents_files.register(server)  # /incidents/export.* and case photos
# 503 for a database that is down or busy, a plain 500 as the last resort; /healthz
errors.install(server)
open311.install(server)  # /open311/v2/: the 12345 hotline's GeoReport v2 intake


def main() -> None:
    """Serve on HOST:PORT, starting the embedded cluster first when it is the database."""
    settings = get_settings()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if settings.database_url is None:
        from geo import localdb

        localdb.up()
    from geo import serve

    serve.apply_gil_switch(settings)  # the development server is threaded too
    serve.freeze_startup_objects()
    app.run(host=settings.host, port=settings.port, debug=settings.debug)


if __name__ == "__main__":
    main()
