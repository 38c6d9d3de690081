"""The engine package's shape (geo/partition): a pure core with a small public API.

It imports no planner, database driver, Dash or command-line code, parses no arguments,
names no demo community, declares its public names in ``__all__``, keeps its tuning knobs
in the frozen config, and makes no grid code of its own (new grids are named by the
caller's scheme, :mod:`geo.partition.naming`; the planner's codes are minted in
:mod:`geo.planning.codes`).  The strategies each have a test of their own: search
(``recursive_bisection`` here, ``tree_cuts`` in test_partition_regions), pockets
(``must_merge``), recount (the count rule here), exact (``solve_region``, ``cover_lift``,
``exact_cover``) and mend (``mend_band``).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "geo" / "partition"

#: modules the engine must never load (the planner owns codes and the command line)
FORBIDDEN_LOADED = ("geo.planning", "geo.db", "geo.cli", "geo.localdb", "dash", "psycopg2")
#: and never import itself (third-party libraries it uses may load ``argparse``)
FORBIDDEN = (*FORBIDDEN_LOADED, "argparse", "click")


def _modules(pkg: Path = PKG) -> list[Path]:
    return sorted(p for p in pkg.glob("*.py"))


def _imports(tree: ast.AST) -> list[str]:
    """Every module an ``import`` statement anywhere in the tree names (lazy ones too)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append(node.module)
            out.extend(f"{node.module}.{a.name}" for a in node.names)
    return out


def boundary_violations(pkg: Path = PKG) -> list[str]:
    """What in ``pkg`` breaks the engine's boundary: a forbidden import, argument parsing
    or a ``__main__`` entry."""
    bad = []
    for path in _modules(pkg):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name in _imports(tree):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
                bad.append(f"{path.name} imports {name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("ArgumentParser", "argv", "add_subparsers"):
                bad.append(f"{path.name} uses .{node.attr} (argument parsing)")
            if isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and node.left.id == "__name__":
                bad.append(f"{path.name} has a __main__ entry")
    return bad


def test_partition_imports_no_planner_database_ui_or_cli():
    assert boundary_violations() == []


def test_the_boundary_check_sees_a_violation(tmp_path):
    """The scan above is not blind: lazy imports and argument parsing are found."""
    (tmp_path / "fake.py").write_text(
        "import numpy as np\n\n"
        "def run():\n    from geo.planning.codes import ShortCodes\n    import psycopg2\n"
        "    import argparse\n    p = argparse.ArgumentParser()\n    return p, ShortCodes\n\n"
        "if __name__ == '__main__':\n    run()\n")
    bad = boundary_violations(tmp_path)
    assert "fake.py imports geo.planning.codes" in bad and "fake.py imports psycopg2" in bad
    assert "fake.py imports argparse" in bad and "fake.py uses .ArgumentParser (argument parsing)" in bad
    assert "fake.py has a __main__ entry" in bad


def test_importing_the_whole_engine_loads_no_planner_database_or_dash():
    mods = sorted(p.stem for p in _modules() if p.stem != "__init__")
    code = ("import json, sys\nimport geo.partition\n"
            + "".join(f"import geo.partition.{m}\n" for m in mods)
            + "print(json.dumps(sorted(sys.modules)))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr
    loaded = json.loads(res.stdout)
    assert "geo.partition.engine" in loaded
    hits = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN_LOADED)]
    assert hits == []


def test_no_demo_community_code_in_the_engine():
    """No constant, branch or comment is argued from a named demo community."""
    pattern = re.compile(r"9901\d{4,}")
    hits = [f"{p.name}:{i}" for p in _modules() for i, line in enumerate(p.read_text().splitlines(), 1)
            if pattern.search(line)]
    assert hits == []


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.stem)
def test_public_modules_declare_their_api(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    declared = None
    defined = set()
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    defined.add(t.id)
                    if t.id == "__all__":
                        declared = ast.literal_eval(node.value)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.ImportFrom | ast.Import):
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
    assert declared is not None, f"{path.name} has no __all__"
    if path.stem == "__init__":
        return  # lazy re-exports (PEP 562), checked below
    assert set(declared) <= defined, sorted(set(declared) - defined)


def test_the_package_exports_resolve():
    import geo.partition as gp

    for name in gp.__all__:
        assert getattr(gp, name) is not None


def test_the_engine_makes_no_codes_its_caller_names_new_grids():
    """Without a naming scheme the engine returns neutral labels, not codes; with the
    planner's short codes the same grids get ``<prefix>G01`` in reading order."""
    from geo.partition.engine import rebalance
    from geo.planning.codes import ShortCodes
    from tests.unit.test_partition import blocks

    b, com = blocks(3, 2, 150)
    plain = rebalance(b, com, seed=0)
    coded = rebalance(b, com, seed=0, names=ShortCodes("Q-"))
    assert set(plain.labels) == {"fresh-01", "fresh-02"}
    assert set(coded.labels) == {"Q-G01", "Q-G02"}
    # the same grids, only named
    assert plain.labels.str.replace("fresh-", "Q-G").tolist() == coded.labels.tolist()


def test_the_engines_knobs_are_in_the_frozen_config():
    """Module-level numbers of the engine that tune it are the config's values."""
    from dataclasses import FrozenInstanceError, fields

    from geo.partition import cells, engine, mend
    from geo.partition.config import DEFAULT

    names = {f.name for f in fields(DEFAULT)}
    for mod, attr, field in (
        (engine, "EXACT_MAX_UNITS", "exact_max_units"), (engine, "EXACT_DET_TIME", "exact_det_time"),
        (engine, "EXACT_COVER_SETS", "exact_cover_sets"), (engine, "LIFT_NODES", "lift_nodes"),
        (engine, "LIFT_SOLUTIONS", "lift_solutions"), (engine, "RESTART_WORK", "restart_work"),
        (engine, "PROVEN_RETRY_UNITS", "proven_retry_units"), (mend, "MAX_GRIDS", "mend_max_grids"),
        (mend, "MAX_UNITS", "mend_max_units"), (mend, "DET_TIME", "mend_det_time"),
        (mend, "BUDGET", "mend_budget"), (mend, "BLOBS", "mend_blobs"), (cells, "NODE_NEAR", "node_near_steps"),
    ):
        assert field in names, field
        assert getattr(mod, attr) == getattr(DEFAULT, field), (mod.__name__, attr)
    with pytest.raises(FrozenInstanceError):
        DEFAULT.exact_max_units = 1  # type: ignore[misc]


#: module-level numbers that are not tuning knobs: a constant of geometry, the size of
#: the reference search the tests compare with, the bits of a compiled kernel's set words
#: (a representation: no plan depends on it), and aliases of the config's values
NOT_KNOBS = {"FOUR_PI", "BRUTE_MAX_UNITS", "WORD_BITS"}


def test_no_tuning_number_lives_outside_the_config():
    """A module-level number in geo/partition is the config's value (``DEFAULT.x``) or not a
    knob at all: a new tolerance or budget goes to EngineConfig with its documented default."""
    loose = []
    for path in _modules():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            numbers = [c for c in ast.walk(node.value) if isinstance(c, ast.Constant)
                       and isinstance(c.value, int | float) and not isinstance(c.value, bool)]
            if names and numbers and names[0].isupper() and names[0] not in NOT_KNOBS:
                loose.append(f"{path.name}: {names[0]}")
    assert loose == [], "move these to geo.partition.config.EngineConfig with a documented default"


# ------------------------------------------------------------------ strategies on their own


def _lattice_units(nx: int, ny: int, hh):
    from geo.partition.cells import building_cells
    from geo.partition.graph import build_graph
    from geo.partition.search import make_units
    from tests.unit.test_partition import UTM, blocks

    b, com = blocks(nx, ny, hh)
    cells = building_cells(b.geometry, com)
    fps = np.asarray(b.geometry.to_crs(UTM).values, dtype=object)
    G = build_graph(fps, np.asarray(cells.to_crs(UTM).values, dtype=object))
    return make_units(G, b["households"].to_numpy(np.int64), np.full(len(b), -1), np.arange(len(b)))


def test_search_bisects_into_connected_parts_in_band():
    """Search alone: 4 x 3 buildings of 100 households split into 3 grids of 400 (band
    300-500) by recursive spanning-tree bisection: every part connected and in band, the
    same parts for the same seed."""
    from geo.partition.search import Params, adj_components, recursive_bisection

    U = _lattice_units(4, 3, 100)
    prm = Params(400, 300, 500)
    nodes = list(range(U.n))
    parts = recursive_bisection(U, nodes, 3, prm, np.random.default_rng(7))
    assert sorted(u for p in parts for u in p) == nodes
    for p in parts:
        assert len(adj_components(U.adj, p)) == 1, p
        assert 300 <= int(U.hh[p].sum()) <= 500, p
    assert parts == recursive_bisection(U, nodes, 3, prm, np.random.default_rng(7))


def test_recount_counts_the_grids_a_region_allows():
    """Recount alone: a region of H households allows ceil(H/max)..floor(H/min) grids;
    none when the first exceeds the second (the counting proof), and the grid count chosen
    is round(H/target) clamped to that range."""
    from geo.partition.engine import choose_k
    from geo.partition.metrics import feasible_k

    assert feasible_k(1000, 300, 500) == (2, 3)
    kmin, kmax = feasible_k(520, 300, 500)
    assert (kmin, kmax) == (2, 1) and kmin > kmax
    assert choose_k(1200, 400, 300, 500) == (3, True)
    assert choose_k(1000, 200, 300, 500) == (3, True)  # H/target = 5, clamped to floor(1000/300)
    assert choose_k(1000, 900, 300, 500) == (2, True)  # H/target = 1, raised to ceil(1000/500)
    assert choose_k(520, 400, 300, 500) == (1, False)
