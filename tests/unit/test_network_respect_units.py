"""The pure parts of geo.networks.respect on hand-countable chains of buildings."""

from __future__ import annotations

import numpy as np

from geo.networks.respect import candidate_groups, figures, pieces

# eight buildings in a row, each touching the next
CHAIN = np.array([(i, i + 1) for i in range(7)])


def test_pieces_follow_old_grids_and_adjacency():
    old = ["A", "A", "B", "B", "A", None, None, "C"]
    got = pieces(old, CHAIN)
    # A A | B B | A (A again, but not touching the first A's) | - - | C
    assert got.tolist() == [0, 0, 1, 1, 2, 3, 3, 4]
    skipped = pieces(old, CHAIN, skip=np.array([0, 1, 0, 0, 0, 0, 0, 0], dtype=bool))
    assert skipped.tolist() == [0, -1, 1, 1, 2, 3, 3, 4]


def test_small_pieces_join_neighbours_within_the_maximum():
    old = ["A", "A", "B", "B", "C", "C", "D", "D"]
    piece = pieces(old, CHAIN)
    assert piece.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    hh = np.array([200, 200, 100, 50, 90, 60, 300, 100], dtype=float)
    # A = 400 (in band), B = 150, C = 150, D = 400: B (the smallest, lowest id) joins C
    # (B + A = 550 is over the maximum), giving 300
    got = candidate_groups(piece, old, hh, CHAIN, 300, 500)
    assert got.tolist() == [0, 0, 1, 1, 1, 1, 3, 3]


def test_a_piece_joins_its_own_old_grid_first():
    # A is cut in two by a building of B, 100 households each. The first A piece (smallest,
    # lowest id) joins B, its only neighbour (200); the second A piece then prefers that
    # group (it holds A) over C (300); C, still too small, joins them (400)
    old = ["A", "B", "A", "C"]
    chain = np.array([(0, 1), (1, 2), (2, 3)])
    piece = pieces(old, chain)
    hh = np.array([100, 100, 100, 100], dtype=float)
    assert candidate_groups(piece, old, hh, chain, 300, 500).tolist() == [0, 0, 0, 0]
    # with a maximum of 300, C cannot join any more and stays alone
    assert candidate_groups(piece, old, hh, chain, 300, 300).tolist() == [0, 0, 0, 3]


def test_nothing_fits_stays_alone():
    old = ["A", "B"]
    hh = np.array([450, 100], dtype=float)
    piece = pieces(old, np.array([(0, 1)]))
    assert candidate_groups(piece, old, hh, np.array([(0, 1)]), 300, 500).tolist() == [0, 1]


def test_figures_count_band_validity_and_oversized_apart():
    rows = [
        {"code": "a", "households": 400, "deviation": 0.0, "valid": True, "failed_rules": [],
         "flags": []},
        {"code": "b", "households": 250, "deviation": 0.375, "valid": False,
         "failed_rules": ["band"], "flags": []},
        {"code": "c", "households": 900, "deviation": 1.25, "valid": False,
         "failed_rules": ["band"], "flags": ["oversized_building"]},
        {"code": "d", "households": 420, "deviation": 0.05, "valid": False,
         "failed_rules": ["contiguity"], "flags": []},
    ]
    f = figures(rows, 300, 500)
    assert f == {"grids": 4, "in_band": 2, "oversized": 1, "valid": 1, "failed_hard": 1,
                 "mean_deviation": round((0.0 + 0.375 + 0.05) / 3, 4), "max_deviation": 0.375}
