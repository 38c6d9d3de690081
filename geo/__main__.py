"""``python -m geo``: the GridAtlas command line."""

from geo.cli import run

run()
