"""The review's PDF report job's core (geo.reports.service): the job's user is checked again
on the worker (the right to the review, the area against the scope, the period) before
anything is read, and the file it makes is the report the CLI makes."""

from __future__ import annotations

import subprocess

import pytest

from geo.access.permissions import PermissionDenied
from geo.access.roles import Principal
from geo.reports import service
from geo.repository import review as rv
from tests.conftest import run_cli

STREET_A, STREET_B = "990100001", "990100002"


@pytest.mark.parametrize(("who", "area", "kind", "error"), [
    (Principal("l", "leader", STREET_A), STREET_B, "month", PermissionDenied),  # outside the scope
    (Principal("l", "leader", STREET_A), STREET_B + "001", "month", PermissionDenied),
    (Principal("l", "leader", STREET_A), "9901%", "month", PermissionDenied),  # a pattern
    (Principal("l", "leader", STREET_A), [STREET_A], "month", PermissionDenied),  # not a string
    (Principal("w", "grid_worker", STREET_A + "001001"), None, "month", PermissionDenied),  # no right
    (None, STREET_A, "month", PermissionDenied),  # nobody
    (Principal("a", "admin", None), None, "month", rv.ReviewError),  # no area, no scope
    (Principal("l", "leader", STREET_A), STREET_A, "decade", rv.ReviewError),  # a bad period
    (Principal("l", "leader", STREET_A), STREET_A, ["month"], rv.ReviewError),
])
def test_refused_before_anything_is_read(demo_db, who, area, kind, error):
    steps = []
    with pytest.raises(error) as info:
        service.report_pdf(who, area, kind, progress=steps.append)
    assert steps == []  # refused before the first step
    assert any("\u4e00" <= ch <= "\u9fff" for ch in info.value.user_msg)  # a message for the page


def test_the_report_of_the_scope_as_the_cli_makes_it(demo_db, tmp_path):
    steps = []
    content, name = service.report_pdf(Principal("l", "leader", STREET_A), None, "quarter",
                                       progress=steps.append)
    assert steps == ["read", "render"]
    start = rv.period_of("quarter").start.isoformat()
    assert name == f"report-{STREET_A}-{start}.pdf" and content[:5] == b"%PDF-"
    job = tmp_path / "job.pdf"
    job.write_bytes(content)
    cli = tmp_path / "cli.pdf"
    r = run_cli("report", "--scope", STREET_A, "--period", "quarter", "--out", str(cli), url=demo_db.url)
    assert r.returncode == 0, r.stderr

    def text(path):
        return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                              check=True).stdout

    street = demo_db.scalar("SELECT name FROM streets WHERE code = %s", (STREET_A,))
    assert f"{street}网格化管理情况报告" in text(job)
    assert text(job) == text(cli)  # the same report, word for word
