"""Shared write and read helpers over the schema, used by the importer and the demo loader.

Every function takes an open cursor (from :func:`geo.db.transaction`) so that the caller
decides the transaction: an import or a demo load is one transaction, all or nothing.

Modules
-------
- :mod:`geo.repository.writers`: bulk inserts of rows with geometry, grid versions, audit rows.
- :mod:`geo.repository.lookup`: codes and ids, current boundaries as GeoDataFrames, and
  locating features in their parents by point-on-surface containment.
"""
