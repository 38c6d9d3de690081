"""The demo district: a fictional district ("示范区 / Demo District") derived from real
OpenStreetMap buildings and roads (© OpenStreetMap contributors, ODbL 1.0) plus clearly
synthetic operational layers.

* :mod:`geo.demo.build` derives the district, streets, communities, compounds, buildings and
  initial grids from an OSM extract and writes the compact shipped files;
* :mod:`geo.demo.synthetic` makes the synthetic layers (cameras, police rooms, grid workers,
  departments, incident categories, incidents and their event histories);
* :mod:`geo.demo.dataset` reads the shipped files (the contract shared with the loader).
"""
