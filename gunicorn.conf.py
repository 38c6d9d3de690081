"""gunicorn configuration: ``gunicorn -c gunicorn.conf.py app:server`` (what ``make run`` does).

Every value comes from the settings (HOST, PORT, WORKERS, THREADS); see geo/serve.py.
"""

from geo import serve

globals().update(serve.options())


def on_starting(server):
    """In the master, before any worker: the session key file exists, made once, so every
    worker signs cookies with the same key (workers racing to make it would not)."""
    from layouts import auth

    auth.secret_key()
    serve.on_starting(server)


pre_fork = serve.pre_fork
post_fork = serve.post_fork
