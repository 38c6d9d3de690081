"""The command line's grammar and error handling (no database)."""

from __future__ import annotations

from tests.conftest import run_cli


def test_help_lists_the_core_commands():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for word in ("db", "stats"):
        assert word in proc.stdout


def test_db_refuses_unknown_actions():
    proc = run_cli("db", "explode")
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr


def test_unreachable_database_is_a_clear_error_without_the_password():
    env_url = "postgresql://someone:hunter2secret@127.0.0.1:1/nothing"
    proc = run_cli("stats", "--json", url=env_url)
    assert proc.returncode == 2
    assert "Cannot reach the database" in proc.stderr
    assert "hunter2secret" not in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


def test_status_with_an_unreachable_external_server_exits_3():
    proc = run_cli("db", "status", url="postgresql://x:y@127.0.0.1:1/none")
    assert proc.returncode == 3
    assert "Cannot reach the database" in proc.stdout
