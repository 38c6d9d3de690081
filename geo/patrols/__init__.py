"""Patrols: a grid worker's walk through their grid, its check-ins, and the coverage it gives."""
