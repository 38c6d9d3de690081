"""Settings, the embedded cluster's layout and the migration files (no database)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from geo import db, localdb
from geo.errors import ConfigError
from geo.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults(monkeypatch):
    for name in ("DATABASE_URL", "HOST", "PORT", "TIMEZONE", "REFRESH_SECONDS", "GRIDATLAS_LANG"):
        monkeypatch.delenv(name, raising=False)
    s = load_settings()
    assert (s.database_url, s.host, s.port, s.timezone) == (None, "127.0.0.1", 8050, "Asia/Shanghai")
    assert s.default_language == "zh" and s.refresh_seconds == 15


@pytest.mark.parametrize(
    "name,value,fragment",
    [
        ("PORT", "eighty", "PORT must be a whole number"),
        ("PORT", "70000", "between 1 and 65535"),
        ("TIMEZONE", "Mars/Olympus", "not a known IANA time zone"),
        ("DATABASE_URL", "mysql://x", "postgresql://"),
        ("GRIDATLAS_LANG", "fr", "zh or en"),
        ("BASEMAP_GCJ02", "maybe", "1/0"),
    ],
)
def test_bad_settings_fail_fast_with_the_name(monkeypatch, name, value, fragment):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert fragment in info.value.user_msg


def test_port_is_derived_from_the_checkout_path(monkeypatch):
    monkeypatch.delenv("GRIDATLAS_PG_PORT", raising=False)
    a = localdb.layout(Path("/srv/one/gridatlas"))
    b = localdb.layout(Path("/srv/two/gridatlas"))
    assert a.port != b.port
    assert a.port == localdb.layout(Path("/srv/one/gridatlas")).port
    assert 20000 <= a.port < 40000


def test_socket_path_stays_within_the_libpq_limit(tmp_path, monkeypatch):
    deep = tmp_path / ("x" * 120) / "checkout"
    lay = localdb.layout(deep)
    assert len(str(lay.socket_dir)) + len("/.s.PGSQL.65535") <= 107


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user")
def test_unreachable_checkout_falls_back_to_a_keyed_folder(tmp_path):
    hidden = tmp_path / "private"
    (hidden / "checkout").mkdir(parents=True)
    os.chmod(hidden, 0o700)  # like a mktemp -d folder or a home folder
    lay = localdb.layout(hidden / "checkout")
    assert lay.fallback
    assert str(lay.base).startswith("/var/tmp/gridatlas-")
    assert localdb.checkout_key(hidden / "checkout") in str(lay.base)
    open_dir = Path("/var/tmp")
    assert not localdb.layout(open_dir).fallback


def test_urls_are_libpq_uris_and_redaction_hides_the_password(tmp_path):
    lay = localdb.layout(tmp_path)
    assert lay.admin_url().startswith("postgresql://postgres@/gridatlas?host=")
    assert localdb.redact("postgresql://app:s3cret@127.0.0.1:5432/db") == (
        "postgresql://app:***@127.0.0.1:5432/db"
    )


def test_migrations_are_numbered_uniquely_and_in_order():
    files = db.migration_files()
    versions = [v for v, _, _ in files]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert versions[0] == 1


def test_importing_app_connects_to_nothing():
    # With an unreachable DATABASE_URL, importing app.py must still succeed at once.
    code = "import time; t=time.time(); import app; print(round(time.time()-t, 2))"
    env = dict(os.environ, DATABASE_URL="postgresql://nobody:x@127.0.0.1:1/none")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "server" in dir(__import__("app"))


def test_geo_never_imports_dash():
    offenders = []
    for path in (ROOT / "geo").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith(("import dash", "from dash")):
                offenders.append(f"{path.relative_to(ROOT)}: {stripped}")
    assert offenders == []


def test_layouts_hold_no_sql():
    import re

    pattern = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE)\b\s+[\w*(]", re.I)
    offenders = []
    for path in (ROOT / "layouts").rglob("*.py"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line) and ("psycopg2" in line or '"' in line) and "FROM" in line.upper():
                offenders.append(f"{path.relative_to(ROOT)}:{n}")
        assert "psycopg2" not in path.read_text(encoding="utf-8"), path
    assert offenders == []
