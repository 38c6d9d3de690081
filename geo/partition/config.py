"""The engine's geometric precision and search knobs, in one frozen config.

Every default here is argued from the rule it serves, never from one community's figures
(the engine is judged on districts it has never seen).  :data:`DEFAULT` is what
:func:`geo.partition.engine.rebalance` uses.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineConfig:
    """Tolerances, budgets and precision of the rebalancing engine.

    Attributes
    ----------
    grid_m:
        Precision grid of the cells (metres, in the community's UTM zone).  The cells are
        one planar arrangement noded with snap-rounding on this grid, so every vertex lies on
        it and two cells that meet share their vertices exactly; the noding is then robust
        (floating noding fell back to snapping heuristics on thin necks and moved the
        community boundary, leaving gaps of several m²).  The community polygon is snapped
        to the same grid, so the cells' union differs from the stored polygon by at most
        ``grid_m`` times its perimeter: 1 µm is far below any survey's accuracy and keeps
        that difference under 0.01 m² for a 10 km boundary.  Coordinates of about 10^7 m
        are still exact to 10^-9 m in double precision, so the grid is representable.
    coverage_abs_m2:
        Fixed part of the coverage rule's tolerance (m²): the grids' union may differ from
        the community by at most ``coverage_abs_m2 + coverage_band_m * perimeter``.
    coverage_band_m:
        Width of the band along the community boundary the coverage rule tolerates (m).  The
        cells snap the boundary to ``grid_m`` (a vertex moves by at most 0.71 ``grid_m``) and
        a round trip through EPSG:4326 storage moves it by about 10^-9 m, so ten grid steps
        bound both: 0.04 m² for a 4 km boundary.
    dev_cap:
        Mean relative deviation from the target the search drives every region below before
        it turns to compounds and compactness.  The rule asks for at most 0.10 over the
        community; a region cannot always reach it (its grid count fixes the mean size), and
        the others make up for it only if they sit below 0.10 with a margin.  0.07 leaves
        that margin (a third of the allowed deviation) while leaving the last 0.03 to
        compactness; a cap near 0.10 gives compactness more room but lets one lumpy region
        push the community over the rule.
    repair_max_sets:
        Sets of neighbouring grids re-split per grid out of band in the search's band repair
        (smallest sets first).  A grid with up to six neighbours has 6 sets of two grids and
        15 of three; 24 covers all of those and a few of four, so a bad grid gets every
        re-split with its immediate neighbours before the work stops growing with it.
    restart_work:
        Work budget of the fresh mode's seeded restarts: at most ``restart_work // units``
        restarts (and at least one).  A restart costs about linearly in the units, so the
        budget bounds the work per community whatever its size, and counts, not seconds,
        keep the answer independent of the machine's load: a region of 200 units gets four
        restarts, one of 800 or more gets one.
    proven_retry_units:
        A region that a pocket above the maximum already proves infeasible is searched
        again at one grid fewer and one more only while it has at most this many units.
        Such a region cannot be put in band by any count, the retries only lower its band
        excess, and their cost grows with its size; past a thousand units (a few thousand
        buildings) they are skipped.
    check_sets:
        Most sets the independent checker (:func:`geo.partition.proofs.partition_search`)
        lists per infeasibility claim: the connected sets of at most the maximum households
        of the claimed region, contracted by its verified pockets.  Listing a set costs 2-5
        microseconds (more on larger regions), a step of the cover search about ten, so
        50,000 sets and 20,000 steps keep a claim's check under about 0.3 s, well inside the
        engine's time goal per community; a claim that needs more stays unchecked (and counts
        as a failure in the benchmarks), it is never believed.
    check_nodes:
        Most steps of the same checker's search for a cover of the region by those sets,
        bounded for the same reason.
    """

    grid_m: float = 1e-6
    coverage_abs_m2: float = 0.01
    coverage_band_m: float = 1e-5
    dev_cap: float = 0.07
    repair_max_sets: int = 24
    restart_work: int = 800
    proven_retry_units: int = 1000
    check_sets: int = 50_000
    check_nodes: int = 20_000

    def coverage_tolerance_m2(self, perimeter_m: float) -> float:
        """The area (m²) by which the grids' union may differ from a community of this
        perimeter and still count as covering it exactly."""
        return self.coverage_abs_m2 + self.coverage_band_m * max(float(perimeter_m), 0.0)


#: the configuration the engine runs with
DEFAULT = EngineConfig()
