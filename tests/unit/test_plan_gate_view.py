"""The plan page's validity gate names the regions the engine proved cannot be put in band,
in the UI language (no engine keys, no English reasons on the Chinese page)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from geo.partition.engine import rebalance
from geo.settings import get_settings
from tests.unit.test_partition import blocks


@pytest.fixture()
def plan_page(monkeypatch):
    """The plan page's tables module (pages register only inside the app; no database is
    read)."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://unused:x@127.0.0.1:1/none")
    get_settings.cache_clear()
    import app  # noqa: F401
    from layouts import plan_tables

    yield plan_tables
    get_settings.cache_clear()


def _texts(node) -> list[str]:
    """Every string in a Dash component tree."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, (list, tuple)):
        return [s for x in node for s in _texts(x)]
    kids = getattr(node, "children", None)
    return _texts(kids) if kids is not None else []


def _proposal():
    # three 250-household blocks among empty ones: the cover relaxation proves that no
    # partition in band exists, so both grids fail the band whatever the planner does
    b, com = blocks(3, 3, [250, 0, 250, 0, 0, 0, 0, 250, 0])
    plan = rebalance(b, com, seed=0)
    gate = [
        {"code": str(r["code"]), "rule": "band", "severity": "band"} for r in plan.report["grids"] if r["failed_rules"]
    ]
    return SimpleNamespace(gate=gate, totals=plan.report["totals"])


def test_gate_names_a_proven_region_in_chinese_and_english(plan_page):
    _gate_view = plan_page.gate_view
    prop = _proposal()
    assert prop.gate, "the engine must report a grid out of band here"
    zh = " ".join(_texts(_gate_view(prop, "zh")))
    assert "户数超出区间" in zh
    assert "已证明无法全部满足户数区间" in zh
    assert "9 栋楼、750 户：任何连通的楼栋组合都无法全部落在区间内" in zh
    assert "cover" not in zh and "household" not in zh
    en = " ".join(_texts(_gate_view(prop, "en")))
    assert "9 buildings, 750 households: no combination of connected groups" in en


def test_gate_without_proven_regions_shows_no_proof_box(plan_page):
    _gate_view = plan_page.gate_view
    prop = _proposal()
    prop.totals = {**prop.totals, "infeasible_regions": []}
    assert "已证明" not in " ".join(_texts(_gate_view(prop, "zh")))
    prop.gate = []
    assert _texts(_gate_view(prop, "zh")) == ["全部规则通过"]
