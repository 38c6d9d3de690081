"""The single-machine job manager (no REDIS_URL) reports a job process that died without
a result as failed, and stays silent for a running, finished or cancelled job; the page's
``on_error`` turns a failure into its message, leaving the other outputs alone."""

from __future__ import annotations

import subprocess

import dash
import diskcache
import pytest

from layouts.jobs import DiskJobs, report_failure


@pytest.fixture()
def jobs(tmp_path):
    return DiskJobs(diskcache.Cache(str(tmp_path / "jobs")))


@pytest.fixture()
def process():
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


def test_a_running_job_has_no_result_yet(jobs, process):
    assert jobs.get_result("k1", str(process.pid)) is jobs.UNDEFINED


def test_a_killed_job_is_a_failed_job(jobs, process):
    process.kill()
    process.wait()
    out = jobs.get_result("k2", str(process.pid))
    assert "background_callback_error" in out and str(process.pid) in out["background_callback_error"]["msg"]


def test_a_cancelled_job_stays_silent(jobs, process):
    jobs.terminate_job(str(process.pid))  # what Dash's cancel (and a resubmission) calls
    process.wait()
    assert jobs.get_result("k3", str(process.pid)) is jobs.UNDEFINED


def test_a_finished_job_gives_its_result(jobs, process):
    process.kill()
    process.wait()
    jobs.handle.set("k4", ["id", "done"])
    assert jobs.get_result("k4", str(process.pid)) == ["id", "done"]


def test_on_error_shows_the_message_and_leaves_the_rest():
    out = report_failure(3, 1)(RuntimeError("lost"))
    assert out[0] is dash.no_update and out[2] is dash.no_update
    assert "后台计算未完成" in out[1].children and out[1].className == "ga-bad"


def test_a_job_ending_between_a_polls_two_reads_keeps_its_result(jobs, process):
    """Dash reads the result, then asks whether the job runs: a job that wrote its result and
    ended in between must read as running for that poll (else Dash answers 204 and drops the
    result), and the next poll takes the result."""
    job = str(process.pid)
    assert jobs.get_result("k5", job) is jobs.UNDEFINED  # the poll's first read: running
    jobs.handle.set("k5", ["plan-id", "done"])  # the job writes its result ...
    process.kill()  # ... and its process ends
    process.wait()
    assert jobs.job_running(job)  # the same poll's second read
    assert jobs.get_result("k5", job) == ["plan-id", "done"]  # the next poll
    assert not jobs.job_running(job)
