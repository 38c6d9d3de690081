"""Dash pages and shared UI components (no SQL here: data comes from ``geo``)."""
