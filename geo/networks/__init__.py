"""Department networks (一张网): other departments' old grids beside the unified grids.

* :mod:`geo.networks.store`: import a department's grid layer as a named network (one
  transaction, refused whole, audited) and list the networks;
* :mod:`geo.networks.crosswalk`: how each old grid's households and buildings are shared
  among the unified grids of a version, and how well a network aligns with them (per
  community, and the old boundaries cutting across unified grids most);
* :mod:`geo.networks.roles`: the reform's roles on each unified grid, its grid leader
  (网格长) and its party organisation (党支部 / 党小组), imported, edited, and moved with
  lineage when a community is redrawn.

The rule tying a building to an old grid: the building's representative point (its point
on surface, ``buildings.pt``) in the network polygon; a point in several polygons goes to
the lowest code; a point in none goes to the nearest polygon within
:data:`GAP_TOLERANCE_M` metres (gaps between hand-drawn polygons), lowest code on a tie;
beyond that the building belongs to no old grid of that network. A building belongs to
exactly one unified grid of a version (``buildings.grid_id`` / ``building_grid``).

Every public function takes the acting :class:`~geo.access.roles.Principal` first and checks
it with :func:`geo.access.permissions.check` (actions ``networks.import``,
``networks.view``, ``grid_roles.edit``, ``grid_roles.view``).
"""

from __future__ import annotations

#: How far (metres) a building's point may lie outside every polygon of a network and still
#: be given to the nearest one (hand-drawn layers leave slivers between neighbours).
GAP_TOLERANCE_M = 20.0

#: Longest network name.
NAME_MAX = 64
