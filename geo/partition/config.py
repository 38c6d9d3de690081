"""The engine's geometric precision and search knobs, in one frozen config.

Every default here is argued from the rule it serves, never from one community's figures
(the engine is judged on districts it has never seen).  :data:`DEFAULT` is what
:func:`geo.partition.engine.rebalance` uses.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT", "EngineConfig", "MinimalConfig"]


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
    exact_max_units:
        A region the search leaves out of band goes to the exact solvers (cover and lift,
        then the tree model) only while it has at most this many units after its pockets
        are joined: the tree model's size grows with the units times the grids, and past a
        few hundred units one grid count costs more than its deterministic time allows.
    exact_det_time:
        CP-SAT deterministic time per grid count tried by the exact solvers (about a second
        of wall time on one core): deterministic units, not seconds, so the answer does not
        depend on the machine's load.
    exact_cover_sets:
        Most connected sets in band the cover and lift (:func:`geo.partition.lift.cover_lift`)
        lists before it gives up: listing 20,000 costs about 0.2 s, and the lift that follows
        costs more with every set listed.
    lift_nodes:
        Most search nodes the cover and lift's lift may spend: like the checker's
        ``check_nodes``, a few tenths of a second at most per region.
    lift_solutions:
        Answers the cover and lift looks for at one grid count; the most compact after the
        search's local moves is kept.  Three give the local moves a choice at little cost
        (each further answer is one more forbidden cover and lift).
    mend_max_grids:
        Most grids the mend (:func:`geo.partition.mend.mend_band`) re-solves together: a bad
        grid and up to three neighbours, the sets a bad grid and its ring of neighbours form
        (a grid seldom has more than three neighbours that can take or give households).
    mend_max_units:
        Most units (after pockets) in a set of grids the mend re-solves: the exact model of
        120 units and four grids solves well inside ``mend_det_time``.
    mend_blobs:
        Whether the mend keeps each grid's household-less blobs (joined in both rule graphs)
        whole where a set has more than ``mend_max_units`` units: a restriction, so an
        answer is still valid, and it brings larger sets within reach.
    mend_det_time:
        CP-SAT deterministic time per set of grids and grid count the mend tries.
    mend_budget:
        CP-SAT deterministic time the mend spends in all per region: two sets' worth, so a
        region the mend cannot help costs a bounded fraction of a second.
    node_near_steps:
        A Voronoi ridge of the cells within this many ``grid_m`` steps of a segment of the
        other lines (footprints, community boundary, roads) is noded with them; one farther
        away cannot touch a segment once rounded, since rounding moves each side by at most
        0.71 step, so 10 leaves a wide margin.
    merge_work:
        Work budget of one pocket search (:func:`geo.partition.exact.must_merge`): node and
        edge visits of its depth-first searches, over all its rounds and rule graphs.  A
        round costs about linearly in the region's units and edges, and the contraction may
        take many rounds on a long chain of pockets; 200,000 visits (a few tenths of a
        second) let every round finish on regions of a few thousand units.  A search cut by
        the budget keeps the pockets found so far: each merge holds on its own, so a cut
        search proves less, never something false.
    mend_merge_work:
        The same work, in all, the mend (:func:`geo.partition.mend.mend_band`) may spend
        preparing its sets of grids (their pockets) per region: its CP-SAT budget does not
        count that preparation, and a region with many bad grids prepared dozens of sets.
        Spent, the mend stops and keeps what it mended.
    mend_max_solves:
        CP-SAT models the mend builds per region.  Building one costs tens of milliseconds
        of Python whatever its deterministic time, and a set that cannot fit the band is
        often refuted at almost no deterministic time, so the CP-SAT budget alone let a region
        with many grids out of band build thirty models and more; a dozen gives every bad
        grid of a typical window its smallest sets.
    fallback_rings:
        Minimal mode's fresh fallback plans fresh only a window of a region it left out of
        band: the grids out of band and the grids within this many steps of them, the other
        grids kept as they are.  A window that cannot be put in band is widened to the next
        entry, then to the whole region (a claim of infeasibility is only made about a whole
        region: a window could borrow households from outside it).
    fallback_max_share:
        A window holding more than this share of its region's units is not tried: the
        region is planned whole at once.  The search costs about linearly in the units, so
        such a window saves less than half the region's search, and lacking the slack of the
        grids around it, it misses the band more often; a window that misses costs its
        search on top of the region's.
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
    exact_max_units: int = 400
    exact_det_time: float = 0.5
    exact_cover_sets: int = 20_000
    lift_nodes: int = 20_000
    lift_solutions: int = 3
    mend_max_grids: int = 4
    mend_max_units: int = 120
    mend_blobs: bool = True
    mend_det_time: float = 0.1
    mend_budget: float = 0.2
    node_near_steps: int = 10
    merge_work: int = 200_000
    mend_merge_work: int = 400_000
    mend_max_solves: int = 12
    fallback_rings: tuple[int, ...] = (1, 2)
    fallback_max_share: float = 0.5

    def coverage_tolerance_m2(self, perimeter_m: float) -> float:
        """The area (m²) by which the grids' union may differ from a community of this
        perimeter and still count as covering it exactly."""
        return self.coverage_abs_m2 + self.coverage_band_m * max(float(perimeter_m), 0.0)


@dataclass(frozen=True)
class MinimalConfig:
    """Knobs of the minimal-change repair.

    Attributes
    ----------
    max_chain:
        Longest chain of grids households may pass along (1 = neighbours only).
    max_chains:
        Chains tried per bad grid and round (nearest first).
    max_rounds:
        Repair rounds per region (each fixes or improves one grid).
    rings, max_grids, wide_rings, wide_units:
        Extent of a :func:`local_solve` model: the grids within ``rings`` steps, and up to
        ``wide_rings`` steps while the model holds at most ``wide_units`` units (a small
        model costs little more for a wider reach), never more than ``max_grids``.
    det_time, max_cuts:
        CP-SAT deterministic time per solve, and re-solves after a connectivity cut.
    depth:
        Farthest, in rule-graph steps, a unit may lie from a grid it joins in a local model.
    local:
        Whether the local model is tried (the engine runs the repair with and without it
        and keeps the better: the greedy rounds can lead either way).
    mend_rings:
        Grids within this many steps of a grid still out of band form the window that the
        exact mend and the search's repair work on after the strategies.
    round_budget, det_budget, solve_budget, step_budget:
        The community's work budget, counted in work and never in wall-clock seconds, so
        the result does not depend on the machine or its load: strategy rounds (each tries
        every strategy on one bad grid) over all regions and both runs of the repair, and
        CP-SAT deterministic time (``max_deterministic_time``) over all local models.  When
        it is spent the repair stops and keeps the best labels found so far (each round
        only ever lowers the band excess); what is left out of band goes to the mend and
        then to the fresh fallback.
    """

    max_chain: int = 4
    max_chains: int = 12
    max_rounds: int = 400
    #: grids of a local model: the bad grid and its neighbours up to ``rings`` steps away
    rings: int = 2
    #: most grids in one local model (nearest first)
    max_grids: int = 12
    #: a model takes further rings, up to ``wide_rings`` steps, while it holds at most
    #: ``wide_units`` units: where buildings are few and large (towers among household-less
    #: buildings), households passed on along three grids can be what brings a grid into band,
    #: and a model that small stays cheap (on the demo, models of 800-1,600 units in two
    #: rings took 30-50% more CPU with a third ring and gained nothing)
    wide_rings: int = 3
    wide_units: int = 200
    #: CP-SAT deterministic time per local solve, and connectivity cuts per local model
    det_time: float = 0.05
    max_cuts: int = 12
    #: farthest (in rule-graph steps) a unit may be from a grid it joins
    depth: int = 6
    #: whether :func:`local_solve` is among the strategies
    local: bool = True
    #: strategy rounds per community (all regions, both runs): after a few buildings change,
    #: a handful of grids go out of band and each needs one to three rounds
    round_budget: int = 24
    #: CP-SAT deterministic time per community over all local models (CP-SAT's own work
    #: measure; a deterministic second took 3-5 s of one core of the 2-core reference
    #: machine on these models, so this is the larger part of the community's 1.5 s)
    det_budget: float = 0.1
    #: CP-SAT solves per community (each also pays a presolve the deterministic time leaves out)
    solve_budget: int = 4
    #: grids around each grid left out of band that the exact mend and the search's repair
    #: see (the rest of the region stays as it is, and their work stays local): its
    #: neighbours only, as the flow and the strategies; the exact mend's work grows fast
    #: with the window (two rings cost most of a community's CPU where the band was missed)
    mend_rings: int = 1
    #: steps a :func:`spread` may pass households on beyond the grid's own neighbours
    spread_depth: int = 0
    #: plans of :func:`flow_repair` per margin: one per boundary piece made (each plan is
    #: made again from the labels the last piece left) or border set aside; a few grids out
    #: of band after a few buildings change need a handful of pieces each
    flow_steps: int = 24
    #: places (a grid above the maximum and one of its neighbours) where :func:`flow_repair`
    #: tries to carve a new grid; each costs a carve and a flow fit
    carve_sites: int = 6
    #: unit visits of the chains' boundary moves per community (a candidate scan visits each
    #: unit of the giving grid, a connectivity check each unit left in it)
    step_budget: int = 400_000
    #: passes of :func:`~geo.partition.minimal.hand_back` over the units moved (each pass
    #: returns what touches its starting grid, so a piece comes back one layer of units per
    #: pass); cut short, the plan is as valid as before, only a little less is handed back
    hand_back_passes: int = 16
    #: pieces of the repair remembered for one community's units (:func:`minimal_grids._piece_memo`),
    #: then the memory starts afresh; only memory and speed depend on it, never a plan
    pieces_remembered: int = 4096
    #: sets of more units than this are split into parts by scipy's compiled labelling
    #: (:func:`minimal_grids._parts`), smaller ones by a walk; the parts are the same either way
    parts_compiled_above: int = 1000


#: the configuration the engine runs with
DEFAULT = EngineConfig()
