"""The PDF jobs' shared core (geo.reports.service.render_pdf) and the ranking sheet's job
(layouts/review_scorecard.py, run by layouts/pdf_job.py on a worker): the job's user is
checked again where the file is made, before anything is read or rendered, and the sheet it
makes names the area."""

from __future__ import annotations

import subprocess

import pytest

from geo.access.permissions import PermissionDenied
from geo.access.roles import Principal
from geo.reports import service
from geo.repository import review as rv
from layouts import review_pdf_job as rpj
from layouts import review_scorecard as rsc

STREET_A, STREET_B = "990100001", "990100002"
LEADER_A = Principal("l", "leader", STREET_A)


@pytest.mark.parametrize("who", [Principal("w", "grid_worker", STREET_A + "001001"),
                                 Principal("c", "community_staff", STREET_A + "001"), None])
def test_render_pdf_checks_the_right_before_reading(who):
    steps, read = [], []
    with pytest.raises(PermissionDenied):
        service.render_pdf(who, "view.review", lambda: read.append(1) or ("<p>x</p>", "x.pdf"),
                           progress=steps.append)
    assert steps == [] and read == []


REFUSED = [
    (Principal("p", "planner", STREET_A), {"area": STREET_A}, PermissionDenied),  # no scorecard right
    (Principal("w", "grid_worker", STREET_A + "001001"), {"area": STREET_A}, PermissionDenied),
    (None, {"area": STREET_A}, PermissionDenied),  # nobody (a forged token never gets here)
    (LEADER_A, {"area": STREET_B}, PermissionDenied),  # outside the scope
    (LEADER_A, {"area": STREET_B + "001"}, PermissionDenied),
    (LEADER_A, {"area": "9901%"}, rv.ReviewError),  # a pattern: not a place code
    (LEADER_A, {"area": STREET_A, "period": "decade"}, rv.ReviewError),  # a bad period
    (LEADER_A, {"area": STREET_A, "period": "range", "from": "2026-13-45"}, rv.ReviewError),
    (Principal("a", "admin", None), {}, rv.ReviewError),  # no area, no scope: nothing to rank
]


@pytest.mark.parametrize(("who", "args", "error"), REFUSED)
def test_ranking_job_refuses_on_the_worker_before_rendering(demo_db, who, args, error):
    steps = []
    with pytest.raises(error) as info:
        rsc.sheet_pdf(who, args, "zh", steps.append)
    assert "render" not in steps  # nothing reached Chromium
    assert any("\u4e00" <= ch <= "\u9fff" for ch in info.value.user_msg)  # a message for the page


@pytest.mark.parametrize(("who", "args", "error"), REFUSED)
def test_ranking_job_is_refused_at_the_click_the_same_way(demo_db, who, args, error):
    with pytest.raises(error):
        rsc.sheet_args(who, args)


def test_ranking_job_makes_the_sheet_of_the_area(demo_db, tmp_path):
    assert rsc.sheet_args(LEADER_A, {"area": STREET_A, "period": "month", "x": [1]}) == \
        {"area": STREET_A, "period": "month"}  # only strings go into the job
    steps = []
    content, name = rsc.sheet_pdf(LEADER_A, {"area": STREET_A, "period": "month"}, "zh", steps.append)
    assert steps == ["read", "render"]
    assert name == f"scorecard-{STREET_A}-{rv.period_of('month').start.isoformat()}.pdf"
    assert content[:5] == b"%PDF-"
    out = tmp_path / name
    out.write_bytes(content)
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
    street = demo_db.scalar("SELECT name FROM streets WHERE code = %s", (STREET_A,))
    assert f"{street}部门考核排名" in text.replace(" ", "")


REPORT_REFUSED = [
    (Principal("w", "grid_worker", STREET_A + "001001"), STREET_A, "month", PermissionDenied),  # no review right
    (None, STREET_A, "month", PermissionDenied),
    (LEADER_A, STREET_B, "month", PermissionDenied),  # outside the scope (the print view hides its buttons)
    (LEADER_A, STREET_B + "001", "month", PermissionDenied),
    (LEADER_A, "9901%", "month", PermissionDenied),  # a pattern: not a place code
    (LEADER_A, STREET_A, "decade", rv.ReviewError),
]


@pytest.mark.parametrize(("who", "area", "kind", "error"), REPORT_REFUSED)
def test_report_job_is_refused_at_the_click(demo_db, who, area, kind, error):
    """The area report's PDF button (the review's and the print view's): the click's check
    refuses before any job is queued, with a message for the page."""
    with pytest.raises(error) as info:
        rpj.report_args(who, area, kind)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in info.value.user_msg)


def test_report_job_arguments_of_an_area_in_scope(demo_db):
    assert rpj.report_args(LEADER_A, STREET_A + "001", "month") == \
        {"area": STREET_A + "001", "period": "month", "from": None, "to": None}
