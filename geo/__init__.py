"""GridAtlas core: settings, database, geometry and domain logic (never imports Dash)."""

__version__ = "0.1.0"
