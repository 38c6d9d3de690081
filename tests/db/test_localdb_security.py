"""The embedded cluster admits only its own OS users, and its shared-folder paths are safe.

Every check uses a real second OS user: ``nobody``, and users made here with ``useradd``
(removed afterwards). Runs as root, as here and in CI.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from geo import localdb
from geo.errors import GridAtlasError

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as other OS users")


def _env(**extra: str) -> dict[str, str]:
    """The environment without any libpq password source, plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("PG") and not k.startswith("PG_")) and k != "DATABASE_URL"}
    env.update(PGPASSFILE="/nonexistent/pgpass", PGCONNECT_TIMEOUT="5", **extra)
    return env


def psql(conninfo: str, as_user: str | None = None, **env: str) -> subprocess.CompletedProcess:
    """``select current_user`` through psql, as ``as_user`` when given; never prompts."""
    cmd = ["psql", conninfo, "-w", "-X", "-A", "-t", "-c", "select current_user"]
    if as_user:
        cmd = ["runuser", "-u", as_user, "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(**env), timeout=60)


def can_enter(user: str, folder: Path) -> bool:
    return subprocess.run(["runuser", "-u", user, "--", "test", "-x", str(folder)]).returncode == 0


def geo_cli(checkout: Path, *args: str, as_user: str | None = None, port: int) -> subprocess.CompletedProcess:
    """``python -m geo ARGS`` for the checkout at ``checkout`` (its own cluster and port)."""
    cmd = [sys.executable, "-m", "geo", *args]
    if as_user:
        cmd = ["runuser", "-u", as_user, "--", *cmd]
    return subprocess.run(cmd, cwd=checkout, capture_output=True, text=True, timeout=300,
                          env=_env(GRIDATLAS_PG_PORT=str(port)))


@contextlib.contextmanager
def interpreter_reachable():
    """Let other OS users run this interpreter (the checkout's virtual environment) for the
    block: a folder above it without search permission for others (a checkout cloned into
    a 0700 temporary folder) gets ``o+x`` and its mode back afterwards."""
    changed = []
    for folder in Path(sys.executable).parent.parents:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(folder, stat.S_IMODE(mode) | stat.S_IXOTH)
            changed.append((folder, stat.S_IMODE(mode)))
    try:
        yield
    finally:
        for folder, mode in changed:
            os.chmod(folder, mode)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def os_user():
    """A fresh OS user with its own private group, removed after the module."""
    name = f"gatest{os.getpid()}"
    subprocess.run(["useradd", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True)
    yield name
    subprocess.run(["userdel", name], check=True, capture_output=True)


@pytest.fixture
def scratch():
    """A folder under /var/tmp that the postgres user can traverse; removed afterwards."""
    made = Path(tempfile.mkdtemp(prefix="ga-sec-", dir="/var/tmp"))
    os.chmod(made, 0o755)
    clusters: list[localdb.Layout] = []
    yield made, clusters
    for lay in clusters:
        if localdb.status(lay):
            localdb.down(lay)
    shutil.rmtree(made, ignore_errors=True)


def own_layout(root: Path, clusters: list[localdb.Layout]) -> localdb.Layout:
    lay = dataclasses.replace(localdb.layout(root), port=free_port())
    clusters.append(lay)
    return lay


def plant(path: Path, target: Path | None) -> None:
    """As ``nobody``: a symbolic link to ``target`` at ``path``, or a 0777 folder there."""
    cmd = ["ln", "-s", str(target), str(path)] if target else ["mkdir", "-m", "0777", str(path)]
    subprocess.run(["runuser", "-u", "nobody", "--", *cmd], check=True)


def victim(scratch_dir: Path) -> tuple[Path, tuple[int, int, int]]:
    target = scratch_dir / "victim"
    target.mkdir()
    os.chmod(target, 0o750)
    st = os.stat(target)
    return target, (st.st_uid, st.st_gid, st.st_mode)


def unchanged(target: Path) -> tuple[int, int, int]:
    st = os.stat(target)
    return st.st_uid, st.st_gid, st.st_mode


# ----------------------------------------------------------------------------- item 1: who logs in


def test_only_the_servers_user_root_and_the_owner_are_superuser(pg_server):
    if pg_server.external:
        pytest.fail("this test is about the embedded cluster: run it without DATABASE_URL")
    lay = localdb.layout()
    sock = f"host={lay.socket_dir} port={lay.port} dbname={localdb.DB_NAME}"
    tcp = f"host=127.0.0.1 port={lay.port} dbname={localdb.DB_NAME}"

    # Root and the server's OS user: the superuser over the socket, by peer.
    for who in (None, lay.run_as):
        proc = psql(f"{sock} user=postgres", as_user=who)
        assert proc.returncode == 0 and proc.stdout.strip() == "postgres", (who, proc.stderr)

    # Anyone else cannot even reach the socket folder, so neither role over the socket.
    assert not can_enter("nobody", lay.socket_dir)
    for role in ("postgres", localdb.APP_ROLE):
        proc = psql(f"{sock} user={role}", as_user="nobody")
        assert proc.returncode != 0 and "Permission denied" in proc.stderr, proc.stdout

    # The app role always needs its password, over the socket as well (even for root).
    proc = psql(f"{sock} user={localdb.APP_ROLE}")
    assert proc.returncode != 0 and "password" in proc.stderr, proc.stdout
    proc = psql(f"{tcp} user={localdb.APP_ROLE}", as_user="nobody")
    assert proc.returncode != 0 and "password" in proc.stderr, proc.stdout

    # No superuser over TCP, with or without a password.
    for password in ("", "postgres"):
        proc = psql(f"{tcp} user=postgres", PGPASSWORD=password)
        assert proc.returncode != 0 and "no pg_hba.conf entry" in proc.stderr, proc.stdout

    # The contract stays: the last line of `db url` is a URI psql accepts as the app role.
    url = geo_cli(ROOT, "db", "url", port=lay.port).stdout.strip().splitlines()[-1]
    proc = psql(url, as_user="nobody")
    assert proc.returncode == 0 and proc.stdout.strip() == localdb.APP_ROLE, proc.stderr


def test_access_rules_are_written_from_code(pg_server):
    lay = localdb.layout()
    hba = [ln.split() for ln in (lay.data / "pg_hba.conf").read_text().splitlines()
           if ln.strip() and not ln.startswith("#")]
    assert hba == [
        ["local", "all", "postgres", "peer", "map=gridatlas"],
        ["local", "all", "gridatlas_app", "scram-sha-256"],
        ["host", "all", "gridatlas_app", "127.0.0.1/32", "scram-sha-256"],
        ["host", "all", "gridatlas_app", "::1/128", "scram-sha-256"],
    ]
    ident = [ln.split() for ln in (lay.data / "pg_ident.conf").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    owner = pwd.getpwuid(ROOT.stat().st_uid).pw_name
    assert ident == [["gridatlas", u, "postgres"] for u in dict.fromkeys(["postgres", "root", owner])]
    assert (lay.data / "gridatlas.conf").read_text().count("unix_socket_permissions = 0770") == 1


def test_checkout_owner_runs_its_own_cluster(os_user, scratch):
    """A non-root owner: up, migrate, status, url and down, as that user; nobody is kept out."""
    made, _ = scratch
    checkout = made / "checkout"
    checkout.mkdir()
    shutil.copytree(ROOT / "geo", checkout / "geo", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.chown(checkout, os_user, os_user)
    subprocess.run(["chown", "-R", "-h", f"{os_user}:{os_user}", str(checkout)], check=True)
    port = free_port()
    with interpreter_reachable():
        _owner_runs_cluster(checkout, os_user, port)


def _owner_runs_cluster(checkout: Path, os_user: str, port: int) -> None:
    try:
        for args in (("db", "up"), ("db", "migrate"), ("db", "status")):
            proc = geo_cli(checkout, *args, as_user=os_user, port=port)
            assert proc.returncode == 0, (args, proc.stderr)
        assert f"port:   {port}" in proc.stdout and "socket: " in proc.stdout
        sock_dir = Path(proc.stdout.split("socket: ")[1].split()[0])
        sock = f"host={sock_dir} port={port} dbname=gridatlas user=postgres"
        assert psql(sock, as_user=os_user).stdout.strip() == "postgres"
        assert psql(sock).stdout.strip() == "postgres"  # root
        assert not can_enter("nobody", sock_dir)
        assert "Permission denied" in psql(sock, as_user="nobody").stderr
        url = geo_cli(checkout, "db", "url", as_user=os_user, port=port).stdout.strip().splitlines()[-1]
        assert psql(url, as_user="nobody").stdout.strip() == localdb.APP_ROLE
        base = checkout / ".pgdata"
        assert {p.name: oct(p.stat().st_mode & 0o7777) for p in (base, base / "app_password")} == {
            ".pgdata": "0o700", "app_password": "0o600"}
    finally:
        geo_cli(checkout, "db", "down", as_user=os_user, port=port)


def test_root_serves_a_checkout_owned_by_another_user(os_user, scratch):
    """Root runs the server as postgres; the owner reaches the socket through its private group."""
    made, clusters = scratch
    checkout = made / "theirs"
    checkout.mkdir()
    shutil.chown(checkout, os_user, os_user)
    lay = own_layout(checkout, clusters)
    assert lay.run_as == "postgres"
    localdb.up(lay)
    sock = f"host={lay.socket_dir} port={lay.port} dbname=gridatlas user=postgres"
    for who in (None, "postgres", os_user):
        assert psql(sock, as_user=who).stdout.strip() == "postgres", who
    assert not can_enter("nobody", lay.socket_dir)
    assert "Permission denied" in psql(sock, as_user="nobody").stderr
    assert subprocess.run(["runuser", "-u", "nobody", "--", "cat", str(lay.password_file)],
                          capture_output=True).returncode != 0
    assert subprocess.run(["runuser", "-u", os_user, "--", "cat", str(lay.password_file)],
                          capture_output=True).returncode == 0


# ----------------------------------------------------------------------------- item 2: /tmp paths


@pytest.mark.parametrize("planted", ["symlink", "folder"])
def test_socket_folder_in_tmp_refuses_what_another_user_planted(scratch, planted):
    made, clusters = scratch
    checkout = made / ("a-checkout-with-a-long-path-" + "x" * 60)
    checkout.mkdir()
    lay = own_layout(checkout, clusters)
    assert lay.socket_dir.parent == Path("/tmp") and not lay.fallback
    target, before = victim(made)
    plant(lay.socket_dir, target if planted == "symlink" else None)
    planted_at = os.lstat(lay.socket_dir)
    try:
        with pytest.raises(GridAtlasError) as info:
            localdb.up(lay)
        msg = info.value.user_msg
        assert msg.startswith(f"refusing to use {lay.socket_dir}:")
        assert ("symbolic link" in msg) if planted == "symlink" else ("belongs to nobody" in msg)
        assert unchanged(target) == before
        now = os.lstat(lay.socket_dir)
        assert (now.st_uid, now.st_gid, now.st_mode) == (
            planted_at.st_uid, planted_at.st_gid, planted_at.st_mode)
        assert not (checkout / ".pgdata").exists()  # refused before anything was made
    finally:
        if localdb.status(lay):  # only when the set-up went ahead
            localdb.down(lay)
        if planted == "symlink":
            os.unlink(lay.socket_dir)
        else:
            shutil.rmtree(lay.socket_dir)


def test_fallback_folder_in_var_tmp_refuses_a_planted_link(scratch):
    made, clusters = scratch
    hidden = made / "private"
    (hidden / "checkout").mkdir(parents=True)
    os.chmod(hidden, 0o700)  # the postgres user cannot reach it: the cluster goes to /var/tmp
    lay = own_layout(hidden / "checkout", clusters)
    assert lay.fallback and lay.base.parent == Path("/var/tmp")
    target, before = victim(made)
    plant(lay.base, target)
    try:
        with pytest.raises(GridAtlasError) as info:
            localdb.up(lay)
        assert info.value.user_msg.startswith(f"refusing to use {lay.base}: it is a symbolic link")
        assert unchanged(target) == before and not any(target.iterdir())
    finally:
        if localdb.status(lay):  # only when the set-up went ahead
            localdb.down(lay)
        os.unlink(lay.base)


def test_a_fresh_cluster_in_tmp_is_private(scratch):
    """The safe path still works: a long checkout gets its own private /tmp socket folder."""
    made, clusters = scratch
    checkout = made / ("another-checkout-with-a-long-path-" + "y" * 60)
    checkout.mkdir()
    lay = own_layout(checkout, clusters)
    try:
        localdb.up(lay)
        st = os.lstat(lay.socket_dir)
        assert (st.st_uid, st.st_mode & 0o7777) == (pwd.getpwnam("postgres").pw_uid, 0o700)
        assert psql(f"host={lay.socket_dir} port={lay.port} dbname=gridatlas user=postgres"
                    ).stdout.strip() == "postgres"
        assert not can_enter("nobody", lay.socket_dir)
    finally:
        localdb.down(lay)
        shutil.rmtree(lay.socket_dir, ignore_errors=True)
